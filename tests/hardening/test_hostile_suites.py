"""Issue 11, cases 2, 4, 5, 11, 12: suite values that `run` would choke on (or that would write outside
--out) are refused by `plan` with exit 2, naming the file and field."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from kdmarl_bench.cli import main


def _suite(tmp_path: Path, *, name: str = '"t"', seeds: str = "[0, 1]", extra: str = "",
           methods: str = '["teacher", "bc"]') -> Path:
    text = (f"[suite]\nname = {name}\ntasks = [\"mpe/simple_spread_v3\"]\nmethods = {methods}\n"
            f"seeds = {seeds}\n{extra}")
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def _plan(path: Path):
    return CliRunner().invoke(main, ["plan", str(path)])


def _refused(res, *fragments: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for frag in fragments:
        assert frag in res.output, res.output


# ---- case 2: names that become paths -------------------------------------------------------


def test_size_label_with_dot_dot_is_refused(tmp_path):
    p = _suite(tmp_path, extra='[students]\nsizes = [{ label = "../../../../evil", hidden = [8] }]\n')
    _refused(_plan(p), "s.toml", "students.sizes[0].label", "not a safe name")


def test_absolute_variant_name_is_refused(tmp_path):
    p = _suite(tmp_path, methods='["teacher", "/tmp/evil"]',
               extra='[variant."/tmp/evil"]\nmethod = "bc"\n')
    _refused(_plan(p), "variant./tmp/evil", "not a safe name")


@pytest.mark.parametrize("name", ['"../outside"', '"a/b"', '"."', '""', '".hidden"'])
def test_suite_name_that_moves_the_output_folder_is_refused(tmp_path, name):
    _refused(_plan(_suite(tmp_path, name=name)), "suite.name")


def test_safe_names_still_plan(tmp_path):
    p = _suite(tmp_path, name='"my-suite_v1.2"', methods='["teacher", "bc+x"]',
               extra='[variant."bc+x"]\nmethod = "bc"\n[students]\nsizes = ["auto", { label = "w8.x", hidden = [8] }]\n')
    res = _plan(p)
    assert res.exit_code == 0, res.output


# ---- cases 4, 5: ranges ----------------------------------------------------------------------


@pytest.mark.parametrize("threads", ["[100000]", "[-1]", "[]"])
def test_profile_threads_out_of_range(tmp_path, threads):
    _refused(_plan(_suite(tmp_path, extra=f"[profile]\nthreads = {threads}\n")), "profile.threads", "[0, ")


def test_profile_cli_threads_100000_exits_2_with_the_range():
    res = CliRunner().invoke(main, ["profile", "zoo:mpe/simple_spread_v3", "--threads", "100000"])
    _refused(res, "--threads", "allowed range [0, ")


def test_profile_cli_batch_out_of_range():
    res = CliRunner().invoke(main, ["profile", "zoo:mpe/simple_spread_v3", "--threads", "1", "--batch", "0"])
    _refused(res, "--batch", "[1, 65536]")


@pytest.mark.parametrize("seeds", ["[9223372036854775807]", "[2147483648]", "[-1]"])
def test_seed_out_of_range(tmp_path, seeds):
    _refused(_plan(_suite(tmp_path, seeds=seeds)), "field 'seeds'", "[0, 2147483647]")


def test_negative_seed_base(tmp_path):
    _refused(_plan(_suite(tmp_path, extra="[eval]\nseed_base = -100\n")), "eval.seed_base")


def test_seed_base_plus_seed_overflows(tmp_path):
    _refused(_plan(_suite(tmp_path, seeds="[0, 5]", extra="[eval]\nseed_base = 2147483645\n")),
             "eval.seed_base", "[0, 2147483642]")


def test_negative_warmup(tmp_path):
    _refused(_plan(_suite(tmp_path, extra="[profile]\nwarmup = -10\n")), "profile.warmup")


@pytest.mark.parametrize("extra, field", [
    ("[profile]\niters = 0\n", "profile.iters"),
    ("[profile]\nbatch_sizes = [0]\n", "profile.batch_sizes"),
    ("[profile]\nbatch_sizes = [100000]\n", "profile.batch_sizes"),
    ("[budget]\nnum_envs = 10000000\n", "budget.num_envs"),
    ('[students]\nsizes = [{ label = "huge", hidden = [1000000000] }]\n', "students.sizes[0].hidden"),
])
def test_other_ranges(tmp_path, extra, field):
    _refused(_plan(_suite(tmp_path, extra=extra)), field)


# ---- case 11: duplicate seeds ----------------------------------------------------------------


def test_duplicate_seeds_are_refused(tmp_path):
    _refused(_plan(_suite(tmp_path, seeds="[0, 0]")), "field 'seeds'", "seed 0 twice")


def test_duplicate_size_labels_are_refused(tmp_path):
    p = _suite(tmp_path, extra='[students]\nsizes = [{ label = "a", hidden = [8] }, { label = "a", scale = 0.5 }]\n')
    _refused(_plan(p), "students.sizes", "unique")


# ---- case 12: learning rates and other method fields --------------------------------------


@pytest.mark.parametrize("field, value, fragment", [
    ("lr", "-1.0", "method.bc.lr"),
    ("lr", "0.0", "method.bc.lr"),
    ("epochs", "0", "method.bc.epochs"),
    ("minibatch_size", "-5", "method.bc.minibatch_size"),
])
def test_method_fields_out_of_range(tmp_path, field, value, fragment):
    _refused(_plan(_suite(tmp_path, extra=f"[method.bc]\n{field} = {value}\n")), fragment, "must be")


def test_variant_fields_out_of_range(tmp_path):
    p = _suite(tmp_path, methods='["teacher", "kd-fast"]',
               extra='[variant.kd-fast]\nmethod = "kd-marl"\ngamma = 1.5\n')
    _refused(_plan(p), "variant.kd-fast.gamma", "<= 1")


def test_bundled_suites_still_plan():
    for name in ("quickstart", "ci", "mpe", "smax", "sweep"):
        res = CliRunner().invoke(main, ["plan", name])
        assert res.exit_code == 0, (name, res.output)


@pytest.mark.parametrize("args", [
    ["evaluate", "--policy", "random", "--task", "mpe/simple_spread_v3", "--seed", "99999999999999999999"],
    ["train-teacher", "mpe/simple_spread_v3", "--seed", "2147483648"],
    ["verify", "x.json", "--fresh-seed", "2147483648"],
    ["run", "quickstart", "--threads", "100000"],
])
def test_cli_seeds_and_threads_out_of_range(args):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "is not in the range" in res.output, res.output


def test_profile_policy_refuses_thread_counts_that_crash_torch():
    from kdmarl_bench.errors import UsageError
    from kdmarl_bench.profiling.policy import profile_policy
    from kdmarl_bench.teachers.zoo import load_policy_ref

    policy, _ = load_policy_ref("zoo:mpe/simple_spread_v3")
    with pytest.raises(UsageError, match=r"thread count 100000 is outside the allowed range \[0, "):
        profile_policy(policy, threads=(100000,))
