"""How much of what the teacher decides can a student's view tell? (issue 20, limited tasks)

    python benchmarks/view_information.py TASK@VIEW [TASK@VIEW ...] [--steps 16000] [--act sample|greedy]
                                          [--teacher-kind local|privileged] [--seed 0] [--json]

For each ``TASK@VIEW`` the task's zoo teacher plays ``--steps`` env-steps (32 copies; ``--act sample``:
it samples its masked softmax, the default, for wider coverage; ``greedy``: it plays its argmax). At
every visited state the label of agent i is the teacher's **greedy** action (argmax of its logits over
its own mask). Then two small classifiers per agent (MLP, one hidden layer of 128, standardised inputs,
Adam, fixed seed) learn that label from

- (a) the teacher's own input (its observation, or ``obs ⊕ state`` for a privileged teacher), predicting
  over the teacher's mask (the env's);
- (b) the student's view of the same state, predicting over the student's mask (``View.avail``: for a
  masked view, attacks on hidden enemies are not available, so such labels count as misses).

Train/test split by env copy (the last quarter of the copies is held out, so no episode is in both).
Rows where the agent has at most one available action (dead in SMAX) are left out. Printed per agent:
held-out accuracy (a), (b), the gap (a) − (b) in points, the share of test labels the student's mask
does not allow ("unimitable": the teacher shot an enemy the student cannot see), (b) on the other test
rows alone ("imitable": what the view's missing information costs beyond that), and for SMAX the share of available attacks in the student's mask that
point at an enemy its view hides (the mask leak: 0 for the masked views).

Cost: a few seconds of env stepping and under a minute of classifier training per task on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

import torch
from torch import nn

from kdmarl_bench.envs import get_task
from kdmarl_bench.envs.registry import get_view, policy_view
from kdmarl_bench.envs.smax import OWN_FEATURES, UNIT_FEATURES
from kdmarl_bench.models.mlp import masked_logits
from kdmarl_bench.teachers.zoo import load_teacher

NUM_ENVS = 32
HELD_OUT = 0.25  # share of env copies whose rows are the test set


@dataclass
class AgentRow:
    target: str
    agent: str
    n_train: int
    n_test: int
    acc_teacher_input: float
    acc_student_view: float
    gap_points: float
    acc_student_imitable: float
    """(b) on the test rows whose label the student's mask allows."""
    unimitable: float
    """Share of test labels that the student's mask does not allow."""
    hidden_attacks: float | None
    """SMAX: share of available attacks in the student's mask whose enemy the view hides."""


# ---- teacher rollouts -------------------------------------------------------------------------


@torch.no_grad()
def collect(task_id: str, view_name: str, kind: str, steps: int, act: str, seed: int):
    """Per agent: teacher inputs, student inputs, teacher masks, student masks, labels, env copy ids."""
    spec = get_task(task_id).spec
    teacher, _ = load_teacher("zoo", spec, kind)
    teacher.eval()
    t_view = policy_view(task_id, teacher)
    s_view = get_view(task_id, view_name, students=True)
    env = get_task(task_id).make(NUM_ENVS)
    gen = torch.Generator().manual_seed(seed)
    cols: dict[str, list[list[torch.Tensor]]] = {k: [[] for _ in range(spec.n_agents)]
                                                 for k in ("t_obs", "s_obs", "t_avail", "s_avail", "label")}
    try:
        step = env.reset(seed)
        for _ in range(max(1, steps // NUM_ENVS)):
            t_obs = t_view(step.obs, step.state)
            s_obs = s_view(step.obs, step.state)
            t_avail = t_view.avail(step.avail, step.obs, step.state)
            s_avail = s_view.avail(step.avail, step.obs, step.state)
            logits = teacher.logits(t_obs)
            for i in range(spec.n_agents):
                z = masked_logits(logits[i], t_avail[i])
                for key, val in (("t_obs", t_obs[i]), ("s_obs", s_obs[i]), ("t_avail", t_avail[i]),
                                 ("s_avail", s_avail[i]), ("label", z.argmax(-1))):
                    cols[key][i].append(val)
            actions = teacher.act(t_obs, t_avail, greedy=act == "greedy", generator=gen)
            step = env.step(actions)
    finally:
        env.close()
    copy = torch.arange(NUM_ENVS).repeat(len(cols["label"][0]))
    return spec, {k: [torch.cat(v) for v in per_agent] for k, per_agent in cols.items()}, copy


# ---- classifiers ------------------------------------------------------------------------------


def held_out_hits(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, train: torch.Tensor, seed: int,
                  epochs: int = 30, batch: int = 256) -> torch.Tensor:
    """Fit an MLP on the ``train`` rows; per held-out row, whether its masked argmax is the label."""
    torch.manual_seed(seed)
    mu, sd = x[train].mean(0), x[train].std(0).clamp_min(1e-6)
    xs = (x - mu) / sd
    net = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, mask.shape[1]))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    tr = torch.nonzero(train).flatten()
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for mb_idx in tr[torch.randperm(len(tr), generator=g)].split(batch):
            loss = nn.functional.cross_entropy(masked_logits(net(xs[mb_idx]), mask[mb_idx]), y[mb_idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        te = ~train
        pred = masked_logits(net(xs[te]), mask[te]).argmax(-1)
    return pred == y[te]


def hidden_attack_share(s_obs: torch.Tensor, s_avail: torch.Tensor, n_enemies: int) -> float | None:
    """Available attacks (the last ``n_enemies`` actions) whose enemy block (the last ``n_enemies``
    blocks of the student's observation) is all zero, over all available attacks."""
    n_blocks = (s_obs.shape[1] - OWN_FEATURES) // UNIT_FEATURES
    blocks = s_obs[:, : n_blocks * UNIT_FEATURES].reshape(-1, n_blocks, UNIT_FEATURES)[:, -n_enemies:]
    hidden = blocks.abs().sum(-1) == 0
    attacks = s_avail[:, -n_enemies:]
    total = int(attacks.sum())
    return None if total == 0 else int((attacks & hidden).sum()) / total


def measure(target: str, kind: str, steps: int, act: str, seed: int) -> list[AgentRow]:
    task_id, _, view_name = target.partition("@")
    spec, data, copy = collect(task_id, view_name or "full", kind, steps, act, seed)
    test_copies = copy >= round(NUM_ENVS * (1 - HELD_OUT))
    n_enemies = spec.n_actions[0] - 5 if spec.family == "smax" else 0
    rows = []
    for i in range(spec.n_agents):
        keep = data["t_avail"][i].sum(-1) > 1  # the agent has a choice (alive)
        train = (~test_copies)[keep]
        y = data["label"][i][keep]
        hits_t = held_out_hits(data["t_obs"][i][keep], y, data["t_avail"][i][keep], train, seed)
        hits_s = held_out_hits(data["s_obs"][i][keep], y, data["s_avail"][i][keep], train, seed)
        acc_t, acc_s = float(hits_t.float().mean()), float(hits_s.float().mean())
        s_avail = data["s_avail"][i][keep]
        allowed = s_avail.gather(-1, y[:, None]).squeeze(-1)[~train]
        rows.append(AgentRow(
            target, spec.agent_names[i], int(train.sum()), int((~train).sum()), acc_t, acc_s,
            100 * (acc_t - acc_s), float(hits_s[allowed].float().mean()), float((~allowed).float().mean()),
            hidden_attack_share(data["s_obs"][i][keep], s_avail, n_enemies) if n_enemies else None))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="+", metavar="TASK@VIEW")
    ap.add_argument("--steps", type=int, default=16000, help="teacher env-steps per target (default 16000)")
    ap.add_argument("--act", choices=("sample", "greedy"), default="sample",
                    help="how the teacher plays the rollouts (labels are always its greedy action)")
    ap.add_argument("--teacher-kind", choices=("local", "privileged"), default="local")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON list of per-agent rows")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows: list[AgentRow] = []
    for target in args.targets:
        got = measure(target, args.teacher_kind, args.steps, args.act, args.seed)
        rows += got
        if not args.json:
            print(f"{target}  (teacher {args.teacher_kind}, rollouts {args.act}, {args.steps} env-steps, seed {args.seed})")
            print(f"  {'agent':<12}{'train':>7}{'test':>7}{'(a) teacher':>13}{'(b) student':>13}{'gap':>7}"
                  f"{'unimitable':>12}{'(b) imitable':>14}{'hidden atk':>12}")
            for r in got:
                hid = "-" if r.hidden_attacks is None else f"{100 * r.hidden_attacks:.1f}%"
                print(f"  {r.agent:<12}{r.n_train:>7}{r.n_test:>7}{100 * r.acc_teacher_input:>12.1f}%"
                      f"{100 * r.acc_student_view:>12.1f}%{r.gap_points:>7.1f}{100 * r.unimitable:>11.1f}%"
                      f"{100 * r.acc_student_imitable:>13.1f}%{hid:>12}")
            sys.stdout.flush()
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
