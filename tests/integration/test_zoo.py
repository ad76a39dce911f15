"""The bundled teachers: cards are complete and their scores reproduce exactly."""

import pytest

from kdmarl_bench.checkpoint import load_card
from kdmarl_bench.envs import get_task
from kdmarl_bench.evaluate import evaluate
from kdmarl_bench.teachers.zoo import ZOO_DIR, load_teacher, zoo_tasks

CARDS = sorted(ZOO_DIR.glob("*.json"))


def test_zoo_has_the_quickstart_teachers():
    assert {"mpe/simple_spread_v3", "smax/3m"} <= set(zoo_tasks())


@pytest.mark.parametrize("card_path", CARDS, ids=[p.stem for p in CARDS])
def test_card_says_how_it_was_made(card_path):
    card = load_card(card_path)
    assert card["kind"] == "teacher"
    assert card["command"].startswith("kdmarl-bench train-teacher " + card["task"])
    for key in ("env_steps", "seed", "config", "train", "eval", "backend_versions", "software"):
        assert key in card, key
    assert card["train"]["wall_s"] > 0 and card["eval"]["greedy"] is True
    policy, _ = load_teacher(f"zoo:{card['task']}", get_task(card["task"]).spec)
    assert not any(p.requires_grad for p in policy.parameters())


def _reproduce(task):
    card = load_card(ZOO_DIR / (task.replace("/", "_") + ".json"))
    policy, _ = load_teacher("zoo", get_task(task).spec)
    res = evaluate(policy, task, card["eval"]["episodes"], card["eval"]["seed"])
    assert res.score == pytest.approx(card["eval"]["score"], abs=1e-6)


EIGHT = ["mpe/simple_spread_v3", "mpe/simple_speaker_listener_v4", "mpe/simple_reference_v3",
         "smax/3m", "smax/2s3z", "smax/8m", "smax/5m_vs_6m", "smax/3s5z"]


def test_zoo_has_a_teacher_for_every_standard_task():
    assert set(EIGHT) <= set(zoo_tasks())


# MPE cards re-evaluate in seconds; SMAX ones compile and run 100 big-network episodes (slow).
@pytest.mark.parametrize(
    "task", [pytest.param(t, marks=[pytest.mark.slow] if t.startswith("smax/") else []) for t in EIGHT]
)
def test_teacher_reproduces_its_card(task):
    _reproduce(task)
