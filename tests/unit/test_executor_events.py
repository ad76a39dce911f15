"""Executors report typed events (``kdmarl_bench/executors/events.py``) and the runner handles each
(event, job) kind with one method (issue 22, item 3)."""

import os
import pickle

import pytest

from kdmarl_bench.cells import CellSpec, RandomScoreJob, TeacherJob
from kdmarl_bench.errors import UsageError
from kdmarl_bench.executors.base import InlineExecutor
from kdmarl_bench.executors.events import JobDone, JobFailed, JobProgress, JobStarted
from kdmarl_bench.runner import _HANDLERS, Runner, _Drive


def test_inline_executor_reports_typed_events():
    ex = InlineExecutor("cpu")
    ex.submit(7, RandomScoreJob("mpe/simple_spread_v3", 2, 0))
    (end,) = ex.wait(timeout=0.0)
    assert isinstance(end, JobDone) and end.job_id == 7 and isinstance(end.result, float)
    assert ex.events() == [JobStarted(7, os.getpid())]
    assert ex.events() == [] and ex.wait(timeout=0.0) == []


@pytest.mark.parametrize("ev", [JobStarted(1, 2), JobProgress(1, 300), JobDone(1, 0.5),
                                JobFailed(1, RuntimeError("worker lost"))])
def test_events_travel_between_processes(ev):
    back = pickle.loads(pickle.dumps(ev))  # a queue or a Ray object store pickles them
    assert type(back) is type(ev) and back.job_id == ev.job_id


def test_every_job_kind_has_an_end_handler():
    for job in (CellSpec, TeacherJob, RandomScoreJob):
        assert (JobDone, job) in _HANDLERS and (JobFailed, job) in _HANDLERS
    assert {k for k in _HANDLERS if k[0] in (JobStarted, JobProgress)} == {(JobStarted, CellSpec),
                                                                            (JobProgress, CellSpec)}


class _Quiet(Runner):
    def __init__(self):  # the handlers below need no suite, folder or store
        self.messages = []

    def _msg(self, text):
        self.messages.append(text)


def test_handle_raises_a_users_mistake_and_reports_a_lost_worker():
    runner, d = _Quiet(), _Drive([], InlineExecutor(), [])
    d.jobs[0] = RandomScoreJob("mpe/simple_spread_v3", 2, 0)
    with pytest.raises(UsageError, match="bad"):
        runner._handle(d, JobFailed(0, UsageError("bad")))
    runner._handle(d, JobStarted(0, 1))  # a random-score job's start is not drawn
    assert runner.messages == []
    runner._handle(d, JobFailed(0, RuntimeError("node died")))
    assert runner.messages == ["random-policy score for mpe/simple_spread_v3 failed: RuntimeError: node died"]
