"""int8 students: post-training dynamic quantization with ONNX Runtime, scored under the same protocol.

The quantization itself (``quantize_int8``: ``onnxruntime.quantization.quantize_dynamic``, QInt8
weights, no calibration data) is the ``onnxruntime-int8`` runtime's module
(:mod:`kdmarl_bench.deploy_runtimes.onnxruntime_int8`).

``evaluate_int8`` scores the int8 student with :func:`kdmarl_bench.evaluate.evaluate` (greedy, the
same eval seed and episodes as its fp32 twin), so retention *after* quantization is measured, not
assumed. ``int8_result`` bundles score, retention, latency, bytes and agreement with the fp32
student in the one dict a runner record carries as ``int8``.
"""

from __future__ import annotations

from kdmarl_bench.deploy_runtimes.onnxruntime import export_onnx
from kdmarl_bench.deploy_runtimes.onnxruntime_int8 import quantize_int8
from kdmarl_bench.envs import get_task
from kdmarl_bench.evaluate import evaluate_protocol
from kdmarl_bench.models.policy import TeamPolicy
from kdmarl_bench.profiling.runtimes import (
    RuntimePolicy,
    RuntimeTeam,
    check_equivalence,
    export_units,
    time_team,
)
from kdmarl_bench.results.analysis.stats import retention

__all__ = ["evaluate_int8", "int8_result", "int8_team"]


def int8_team(policy: TeamPolicy, threads: int = 1, fp32_models: list[bytes] | None = None) -> RuntimeTeam:
    """The policy's deployed actors exported to ONNX, quantized to int8, in ONNX Runtime sessions."""
    actors, obs_dims = policy.deploy_actors(), list(policy.obs_dims)
    if fp32_models is None:
        fp32_models = [export_onnx(u.module, u.in_dim) for u in export_units(actors, obs_dims)]
    return RuntimeTeam.build(actors, obs_dims, "onnxruntime", threads=threads,
                             models=[quantize_int8(m) for m in fp32_models])


def evaluate_int8(policy: TeamPolicy, task: str, episodes: int, eval_seed: int | list[int],
                  team: RuntimeTeam | None = None):
    """Greedy evaluation of the int8 student (an ``EvalResult``, like ``evaluate`` returns); a list of
    eval seeds spreads the episodes over them as the fp32 record's evaluation does."""
    team = team or int8_team(policy)
    seeds = eval_seed if isinstance(eval_seed, list) else [eval_seed]
    return evaluate_protocol(RuntimePolicy(team, list(policy.n_actions), view=policy.view), task, episodes, seeds,
                             sampled=False)


def int8_result(policy: TeamPolicy, task: str, episodes: int, eval_seed: int | list[int], *, fp32_score: float | None = None,
                teacher_score: float | None = None, random_score: float | None = None, warmup: int = 100,
                iters: int = 1000, repeats: int = 3) -> dict:
    """Everything a record's ``int8`` field holds for one student.

    ``score``/``episode_scores``: the int8 student under the same protocol as ``policy``;
    ``retention``: vs ``teacher_score`` (``None`` when not given, or on a ``return`` task without
    ``random_score``); ``delta_vs_fp32``: score minus
    ``fp32_score`` when given; ``latency``: a 1-thread decentralized CPU entry through ONNX Runtime
    (path ``onnxruntime-int8``); ``bytes``: the int8 ONNX files' size; ``equivalence``: agreement
    with the fp32 eager actors (not pass/fail: int8 changes logits by design).
    """
    team = int8_team(policy)
    res = evaluate_int8(policy, task, episodes, eval_seed, team=team)
    eq = check_equivalence(policy.deploy_actors(), team, atol=None)
    latency = {**time_team(team, warmup=warmup, iters=iters, repeats=repeats), "path": "onnxruntime-int8",
               "file_bytes": team.file_bytes}
    metric = get_task(task).spec.metric
    kept = None
    if teacher_score is not None and (metric == "win_rate" or random_score is not None):
        value = float(retention(res.score, teacher_score, metric, random_score))
        kept = value if value == value else None  # NaN (teacher at the random score) -> None
    return {
        "mode": "dynamic-int8 (onnxruntime.quantization.quantize_dynamic, QInt8 weights)",
        "score": res.score,
        "episode_scores": res.episode_scores,
        "retention": kept,
        "delta_vs_fp32": None if fp32_score is None else res.score - float(fp32_score),
        "latency": latency,
        "bytes": team.file_bytes,
        "equivalence": eq.to_dict(),
    }
