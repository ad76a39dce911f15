import hashlib
from pathlib import Path

import pytest

from kdmarl_bench.errors import UsageError
from kdmarl_bench.suite import bundled_suites, load_suite, plan

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[suite]
name = "t"
version = "2"
tasks = ["mpe/simple_spread_v3", "smax/3m"]
methods = ["teacher", "kd-marl", "bc"]
seeds = [0, 1]
[students]
sizes = ["auto", { label = "w16", hidden = [16, 16] }]
[budget]
env_steps = 1000
num_envs = 4
[task."smax/3m"]
env_steps = 500
[method.kd-marl]
lambda_kl = 2.0
"""


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def load_error(path) -> str:
    """The message of the UsageError that loading the suite at ``path`` must raise."""
    with pytest.raises(UsageError) as exc:
        load_suite(path)
    return str(exc.value)


def assert_mentions(msg: str, needles) -> None:
    for n in needles:
        assert n in msg, (n, msg)


def test_good_suite_plans_cells(tmp_path):
    suite = load_suite(write(tmp_path, GOOD))
    cells = plan(suite)
    # teacher: 2 tasks × 2 seeds; students: 2 tasks × 2 methods × 2 sizes × 2 seeds
    assert len(cells) == 2 * 2 + 2 * 2 * 2 * 2
    steps = {(c.task, c.method): c.env_steps for c in cells}
    assert steps[("smax/3m", "bc")] == 500
    assert steps[("mpe/simple_spread_v3", "bc")] == 1000
    assert steps[("smax/3m", "teacher")] == 0
    kd = [c for c in cells if c.method == "kd-marl"]
    assert all(c.method_config == {"lambda_kl": 2.0} for c in kd)
    eval_eps = {c.task: c.eval_episodes for c in cells}
    # the protocol's defaults: SMAX 128 episodes over 4 eval seeds, MPE 100 on one
    assert eval_eps == {"mpe/simple_spread_v3": 100, "smax/3m": 128}
    seeds = {c.task: c.eval_seeds for c in cells}
    assert seeds == {"mpe/simple_spread_v3": 1, "smax/3m": 4}
    smax = next(c for c in cells if c.task == "smax/3m" and c.method == "bc")
    assert len(set(smax.eval_seed_list)) == 4 and smax.eval_seed_list[0] == smax.eval_seed
    assert "eval_seeds" in smax.config() and "eval_seeds" not in next(
        c for c in cells if c.task == "mpe/simple_spread_v3").config()  # one seed: the key an older cell had
    # Paired design: every method of a task and seed uses the same eval seed.
    assert len({(c.task, c.seed, c.eval_seed) for c in cells}) == 4
    assert len(suite.sha256) == 64


BUNDLED = ROOT / "suites"


def test_bundled_suites_validate():
    files = sorted(BUNDLED.glob("*.toml"))
    assert {p.stem for p in files} >= {"quickstart", "ci", "mpe", "smax", "smacv2", "sweep"}
    for p in files:
        assert plan(load_suite(p)), p


def test_bundled_suites_ship_in_one_place():
    # One source, the top-level suites/ (a wheel gets a copy at build time): no second folder in the
    # package that could drift.
    assert not (ROOT / "kdmarl_bench" / "suites").exists()
    assert bundled_suites() == sorted(p.stem for p in BUNDLED.glob("*.toml"))


def test_bare_name_resolves_to_the_package_outside_the_clone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./suites here: the name must come from the package itself
    suite = load_suite("quickstart")
    assert Path(suite.path) == BUNDLED / "quickstart.toml"
    assert suite.sha256 == hashlib.sha256((BUNDLED / "quickstart.toml").read_bytes()).hexdigest()
    assert "quickstart" in bundled_suites()


def test_bare_name_from_the_clone_root_records_a_relative_path(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert load_suite("ci").path == str(Path("suites") / "ci.toml")


def test_local_suites_folder_overrides_a_bundled_name(tmp_path, monkeypatch):
    (tmp_path / "suites").mkdir()
    write(tmp_path / "suites", GOOD.replace('name = "t"', 'name = "quickstart"'), "quickstart.toml")
    write(tmp_path / "suites", GOOD.replace('name = "t"', 'name = "mine"'), "mine.toml")
    monkeypatch.chdir(tmp_path)
    assert load_suite("quickstart").path == str(Path("suites") / "quickstart.toml")
    assert load_suite("quickstart").version == "2"  # GOOD's, not the bundled one's
    assert {"mine", "quickstart", "ci"} <= set(bundled_suites())


def test_unknown_bare_name_lists_the_bundled_suites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = load_error("quickstrat")
    assert_mentions(msg, ["quickstrat", "not a bundled suite", "did you mean", "quickstart", "smax"])


@pytest.mark.parametrize(
    "text, needles",
    [
        ('[suite]\nname = "x"\ntasks = [', ["not valid TOML", "at end of document"]),
        ('[suite]\nname = "x"\nname = "y"\n', ["not valid TOML", "line 3"]),
        ('tasks = ["smax/3m"]\nmethods = ["bc"]', ["field 'suite'", "required field is missing"]),
        ('[suite]\nname = 3\n', ["field 'suite.name'", "expected str"]),
        ('seeds=[0]\ntasks = ["smax/3mm"]\nmethods=["bc"]\n[suite]\nname="x"', ["tasks[0]", "did you mean", "smax/3m"]),
        ('tasks = ["smac/3m"]\nmethods=["bc"]\n[suite]\nname="x"', ["unknown env family 'smac'", "smax", "smacv2"]),
        ('tasks = ["smax/3m"]\nmethods=["kd-marll"]\n[suite]\nname="x"', ["methods[0]", "did you mean: kd-marl", "pd-kl"]),
        ('tasks = ["smax/3m"]\nmethods=["bc"]\n[suite]\nname="x"\n[budget]\nenv_step=3', ["budget.env_step", "env_steps"]),
        ('tasks = ["smax/3m"]\nmethods=["bc"]\n[suite]\nname="x"\n[budget]\nenv_steps=-3', ["budget.env_steps", "> 0"]),
        ('tasks = ["smax/3m"]\nmethods=["kd-marl"]\n[suite]\nname="x"\n[method.kd-marl]\nlambda_kll=1.0',
         ["method.kd-marl.lambda_kll", "did you mean"]),
    ],
)
def test_bad_suites_name_file_and_field(tmp_path, text, needles):
    p = write(tmp_path, text)
    msg = load_error(p)
    assert str(p) in msg
    assert_mentions(msg, needles)


def test_missing_suite_file(tmp_path):
    with pytest.raises(UsageError, match="cannot read suite file"):
        load_suite(tmp_path / "nope.toml")


VARIANTS = """
[suite]
name = "v"
tasks = ["smax/3m"]
methods = ["teacher", "kd-marl", "kd-marl-no-rel", "pd-kl-t2"]
[method.kd-marl]
lambda_kl = 2.0
[variant.kd-marl-no-rel]
method = "kd-marl"
use_rel = false
[variant.pd-kl-t2]
method = "pd-kl"
tau = 2.0
"""


def test_variants_run_as_methods(tmp_path):
    suite = load_suite(write(tmp_path, VARIANTS))
    cells = {c.method: c for c in plan(suite)}
    assert cells["kd-marl-no-rel"].base_method == "kd-marl"
    # a variant inherits its base's [method.X] overrides, then applies its own
    assert cells["kd-marl-no-rel"].method_config == {"lambda_kl": 2.0, "use_rel": False}
    assert cells["pd-kl-t2"].method_config == {"tau": 2.0}
    assert cells["teacher"].base_method == "teacher" and cells["teacher"].env_steps == 0


@pytest.mark.parametrize(
    "variant, needles",
    [
        ('[variant.bc]\nmethod = "bc"', ["variant.bc", "may not reuse"]),
        ('[variant.x]\nmethod = "kd-marll"', ["variant.x.method", "did you mean: kd-marl"]),
        ('[variant.x]\nmethod = "kd-marl"\nuse_rell = false', ["variant.x.use_rell", "did you mean"]),
        ('[variant.x]\nmethod = "kd-marl"\nuse_rel = 3', ["variant.x.use_rel", "expected bool"]),
        ('[variant.x]\nuse_rel = false', ["variant.x.method", "required"]),
    ],
)
def test_bad_variants(tmp_path, variant, needles):
    text = '[suite]\nname = "v"\ntasks = ["smax/3m"]\nmethods = ["x"]\n' + variant
    assert_mentions(load_error(write(tmp_path, text)), needles)


def test_method_unknown_lists_variants(tmp_path):
    text = VARIANTS.replace('"pd-kl-t2"]', '"pd-kl-t3"]')
    with pytest.raises(UsageError, match="did you mean: pd-kl-t2"):
        load_suite(write(tmp_path, text))


SIZED = """
[suite]
name = "v"
tasks = ["smax/3m"]
methods = ["kd-marl", "kd-marl-no-rel"]
seeds = [0, 1]
[students]
sizes = ["auto", { label = "w16", hidden = [16, 16] }]
[variant.kd-marl-no-rel]
method = "kd-marl"
use_rel = false
sizes = ["auto"]
"""


def test_variant_sizes_subset(tmp_path):
    cells = plan(load_suite(write(tmp_path, SIZED)))
    by_method = {}
    for c in cells:
        by_method.setdefault(c.method, set()).add((c.size_label, c.seed))
    assert by_method["kd-marl"] == {("auto", 0), ("auto", 1), ("w16", 0), ("w16", 1)}
    assert by_method["kd-marl-no-rel"] == {("auto", 0), ("auto", 1)}
    # sizes is a suite knob, not a method config field
    assert all("sizes" not in c.method_config for c in cells)


@pytest.mark.parametrize(
    "sizes, needles",
    [
        ('["w61"]', ["variant.kd-marl-no-rel.sizes[0]", "did you mean: w16", "valid choices: auto, w16"]),
        ("[]", ["variant.kd-marl-no-rel.sizes", "non-empty list"]),
        ("3", ["variant.kd-marl-no-rel.sizes", "non-empty list"]),
    ],
)
def test_bad_variant_sizes(tmp_path, sizes, needles):
    text = SIZED.replace('sizes = ["auto"]\n', f"sizes = {sizes}\n")
    assert_mentions(load_error(write(tmp_path, text)), needles)


def test_only_tasks_keeps_cells(tmp_path):
    text = SIZED.replace('tasks = ["smax/3m"]', 'tasks = ["smax/3m", "mpe/simple_spread_v3"]')
    suite = load_suite(write(tmp_path, text))
    sub = suite.only_tasks(["mpe/simple_spread_v3"])
    assert sub.tasks == ("mpe/simple_spread_v3",)
    # a task-filtered run plans exactly the full suite's cells for that task, so keys match
    assert plan(sub) == [c for c in plan(suite) if c.task == "mpe/simple_spread_v3"]
    with pytest.raises(UsageError, match="did you mean: smax/3m"):
        suite.only_tasks(["smax/3n"])


def test_method_table_sizes_subset(tmp_path):
    text = SIZED.replace('methods = ["kd-marl", "kd-marl-no-rel"]', 'methods = ["kd-marl", "scratch"]')
    text += '[method.scratch]\nsizes = ["w16"]\nlr = 0.001\n'
    cells = plan(load_suite(write(tmp_path, text)))
    scratch = [c for c in cells if c.method == "scratch"]
    assert {c.size_label for c in scratch} == {"w16"} and len(scratch) == 2
    assert scratch[0].method_config == {"lr": 0.001}
    assert {c.size_label for c in cells if c.method == "kd-marl"} == {"auto", "w16"}
    msg = load_error(write(tmp_path, text.replace('sizes = ["w16"]\nlr', 'sizes = ["atuo"]\nlr')))
    assert_mentions(msg, ["method.scratch.sizes[0]", "did you mean: auto"])


def test_profile_paths_and_quantize_validate(tmp_path):
    text = GOOD + '[profile]\npaths = ["onnxruntime", "executorch", "torchscript"]\nquantize = ["int8"]\n'
    suite = load_suite(write(tmp_path, text))
    assert suite.profile.paths == ("eager", "onnxruntime", "executorch", "torchscript")
    assert suite.profile.quantize == ("int8",)
    assert load_suite(write(tmp_path, GOOD, "plain.toml")).profile.quantize == ()


@pytest.mark.parametrize("table, needles", [
    ('paths = ["onnx-runtime"]', ["profile.paths[0]", "onnxruntime", "valid choices: eager, torchscript, "
                                                                      "onnxruntime, executorch"]),
    ('quantize = ["int4"]', ["profile.quantize[0]", "'int4'", "valid choices: int8"]),
])
def test_bad_profile_paths_and_quantize(tmp_path, table, needles):
    msg = load_error(write(tmp_path, GOOD + f"[profile]\n{table}\n"))
    for n in needles:
        assert n in msg, (n, msg)
