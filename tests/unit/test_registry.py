import pytest

from kdmarl_bench.errors import UsageError
from kdmarl_bench.registry import Registry, suggest


def test_registry_unknown_name_suggests():
    reg: Registry[int] = Registry("thing")
    reg.add("kd-marl", 1)
    reg.add("pd-kl", 2)
    assert reg.get("pd-kl") == 2
    with pytest.raises(UsageError) as exc:
        reg.get("kd-marll", where="suite.toml")
    assert "suite.toml: unknown thing 'kd-marll' (did you mean: kd-marl?)" in str(exc.value)
    assert "valid choices: kd-marl, pd-kl" in str(exc.value)


def test_register_twice_is_a_bug():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(ValueError):
        reg.add("a", 2)


def test_suggest_substring_fallback():
    assert "smax/3m" in suggest("3m", ["smax/3m", "mpe/simple_spread_v3"])
    assert suggest("zzz", ["a", "b"]) == ""
