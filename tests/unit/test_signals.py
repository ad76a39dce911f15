"""Interrupts are held during heavy imports and raised right after (never a half-imported library)."""

import os
import signal

import pytest

from kdmarl_bench.signals import Terminated, deferred_interrupts


@pytest.mark.parametrize("sig, exc", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)])
def test_signal_is_held_then_raised(sig, exc):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    finished = []
    with pytest.raises(exc), deferred_interrupts():
        os.kill(os.getpid(), sig)
        for _ in range(1000):  # give the interpreter many chances to run a handler
            pass
        finished.append(True)
    assert finished == [True]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_nothing_raised_without_a_signal():
    with deferred_interrupts():
        x = 1
    assert x == 1
