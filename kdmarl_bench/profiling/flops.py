"""Per-decision compute cost of deployed policies: parameters, MACs and FLOPs.

Two independent counters are run on every agent's policy and cross-checked:

* thop (PyPI ``thop``, MIT) hooks modules and returns multiply-accumulates (MACs);
  ``flops_from_macs = 2 * macs``.
* ``torch.utils.flop_counter.FlopCounterMode`` intercepts aten ops and counts FLOPs of matrix
  products (mm/addmm/bmm/convolution/attention); composite ops are decomposed first.

Counting convention (one decision = one ``actor(obs)`` call at batch 1)
-----------------------------------------------------------------------
Only the multiply-accumulates of matrix products are counted; FLOPs = 2 x MACs. Elementwise work
is *not* counted by either counter: bias adds (FlopCounterMode's ``addmm`` formula and thop's
Linear rule both leave them out), activations (ReLU/Tanh/GELU: thop rule-less or zero, 0 in
FlopCounterMode), normalisation and the gate arithmetic of recurrent cells. So
``Linear(10, 32) -> ReLU -> Linear(32, 5)`` is 10*32 + 32*5 = 480 MACs = 960 FLOPs.

To keep the two counters on that one convention, thop is run with these rule overrides:

* ``nn.RNN/GRU/LSTM`` and their cells: thop's built-in rules add elementwise gate terms
  (for ``GRUCell(I, H)``: ``7H`` gate sums/products plus ``6H`` bias adds per step) on top of the
  matrix products and call all of it MACs. Replaced by the hand formula: per evaluated
  (time step x sample) and per layer/direction, every element of every weight matrix
  (``weight_ih``, ``weight_hh``, ``weight_hr``) is used in exactly one MAC, i.e. for a
  ``GRUCell(I, H)``: ``3 * (I*H + H*H)`` MACs. See :func:`gru_cell_ops`.
* normalisation layers (LayerNorm, GroupNorm, BatchNorm, RMSNorm) and softmax: thop counts
  their elementwise work; here they count 0, like activations.

FlopCounterMode has no formula for any RNN op; it counts recurrent modules only when they decompose
into ``addmm``. On the CPU (torch 2.13) ``aten.gru_cell`` and ``aten.gru.input`` (nn.GRUCell,
nn.GRU) do, and it counts exactly ``2 * 3 * H * (I + H)`` FLOPs per step, equal to the hand count.
``nn.LSTM`` (without projections) runs the fused oneDNN kernel ``mkldnn_rnn`` on the CPU and
FlopCounterMode counts it as 0; on CUDA ``_cudnn_rnn`` would be 0 too. Counting therefore always
runs on CPU deep copies, and wherever FlopCounterMode sees fewer FLOPs inside a recurrent module
than the hand formula, the shortfall is added from the hand formula (``flops`` = FlopCounterMode +
that fix-up).

``zero_counted`` lists modules thop has no rule for that own parameters directly (or are known
matmul compute) and for which thop counted 0 MACs. thop only counts through per-module rules: a
custom module doing ``x @ self.w``, ``torch.mm(x, self.w)`` or ``F.linear`` is 0 MACs to thop, listed
here, and FlopCounterMode (which sees the aten op) is the record's FLOPs; ``agree`` is then False
and ``note`` says why. Every policy this project builds is made of ``nn.Linear`` (and recurrent)
modules, which both counters cover.

Shared parameters: when several agents share one module object (a parameter-shared teacher
actor called once per agent), each agent's decision still costs the full FLOPs (team FLOPs =
sum over agents), but the team ``params`` counts every distinct parameter tensor once.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["ModuleCost", "count_policy_cost", "gru_cell_ops", "recurrent_macs_per_step"]

#: relative tolerance for ``agree``
AGREE_RTOL = 0.05
COUNTER_NAME = "thop+FlopCounterMode"

# module types whose work is matrix products: never legitimately 0 MACs
_KNOWN_COMPUTE: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Bilinear,
    nn.modules.conv._ConvNd,
    nn.RNNBase,
    nn.RNNCellBase,
    nn.MultiheadAttention,
)
_RECURRENT = (nn.RNNBase, nn.RNNCellBase)


@dataclass
class ModuleCost:
    """Cost of one agent's deployed policy for ONE decision at batch 1."""

    agent: int
    params: int
    macs: int  # thop MACs (rule overrides above)
    flops: int  # FlopCounterMode FLOPs (+ recurrent hand fix-up, see module doc)
    flops_from_macs: int  # 2 * macs
    agree: bool  # |flops - 2*macs| <= 5% of max(flops, 2*macs)
    note: str  # why they disagree, '' when they agree
    zero_counted: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- hand formulas


def gru_cell_ops(input_size: int, hidden_size: int, bias: bool = True) -> dict[str, int]:
    """Hand count of one ``GRUCell(input_size, hidden_size)`` step for one sample.

    ``matmul_macs``: ``W_ih x`` (3H x I) and ``W_hh h`` (3H x H) = ``3 * (I*H + H*H)`` MACs -- the
    number this module reports as MACs (FLOPs = 2x).
    ``elementwise_ops`` (not counted in MACs/FLOPs here, listed for reference; this is exactly the
    extra work thop's built-in GRU rule adds): r and z pre-activation sums ``2H``; ``r * (W_hn h + b_hn)``
    ``H``; the n pre-activation sum ``H``; ``h' = n + z * (h - n)`` ``3H``; plus, with bias, the
    adds of ``b_ih`` and ``b_hh`` ``6H``. ``nonlinearities``: 2H sigmoids + H tanh (not counted).
    """
    i, h = int(input_size), int(hidden_size)
    matmul = 3 * (i * h + h * h)
    elementwise = 7 * h + (6 * h if bias else 0)
    return {"matmul_macs": matmul, "elementwise_ops": elementwise, "nonlinearities": 3 * h}


def _weight_numel(m: nn.Module) -> int:
    return sum(p.numel() for n, p in m.named_parameters(recurse=False) if n.startswith("weight_"))


def _evaluations(x: Any) -> int:
    """Number of (time step x sample) vectors a recurrent module processes for input ``x``."""
    if isinstance(x, nn.utils.rnn.PackedSequence):
        return int(x.data.shape[0])
    if isinstance(x, torch.Tensor) and x.dim() >= 1 and x.shape[-1] > 0:
        return int(x.numel() // x.shape[-1])
    return 1


def recurrent_macs_per_step(m: nn.Module) -> int:
    """MACs of one time step for one sample of an RNN/GRU/LSTM (cell or layer stack).

    Every element of every weight matrix (``weight_ih*``, ``weight_hh*``, ``weight_hr*``, all layers
    and directions) takes part in exactly one multiply-accumulate per step.
    """
    return _weight_numel(m)


def _recurrent_rule(m: nn.Module, x: tuple, y: Any) -> None:
    """thop rule: matrix-product MACs of a recurrent module (elementwise gate work excluded)."""
    n = _evaluations(x[0]) if x else 1
    m.total_ops += int(n * _weight_numel(m))


def _zero_rule(m: nn.Module, x: tuple, y: Any) -> None:
    m.total_ops += 0


def _thop_custom_ops() -> dict[type, Callable]:
    ops: dict[type, Callable] = {}
    for t in (nn.RNNBase, nn.RNN, nn.GRU, nn.LSTM, nn.RNNCellBase, nn.RNNCell, nn.GRUCell, nn.LSTMCell):
        ops[t] = _recurrent_rule
    zero: list[type] = [nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.Softmax, nn.LogSoftmax]
    if hasattr(nn, "RMSNorm"):
        zero.append(nn.RMSNorm)
    for t in zero:
        ops[t] = _zero_rule
    return ops


def _thop_has_rule(m: nn.Module, custom_ops: dict[type, Callable]) -> bool:
    from thop.profile import register_hooks

    return any(t in custom_ops or t in register_hooks for t in type(m).__mro__)


# --------------------------------------------------------------------------- counting machinery


class _Call(nn.Module):
    """Calls ``module(*args, **kwargs)`` with fixed inputs; lets thop profile keyword calls."""

    def __init__(self, module: nn.Module, args: tuple, kwargs: dict):
        super().__init__()
        self.module = module
        self._args = args
        self._kwargs = kwargs

    def forward(self) -> Any:
        return self.module(*self._args, **self._kwargs)


def _thop_macs(module: nn.Module, args: tuple, kwargs: dict, custom_ops: dict) -> int:
    from thop import profile

    macs, _ = profile(_Call(module, args, kwargs), inputs=(), custom_ops=custom_ops, verbose=False)
    return int(round(float(macs)))


def _fcm_flops(module: nn.Module, args: tuple, kwargs: dict) -> tuple[int, dict[str, int]]:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        module(*args, **kwargs)
    per_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), per_op


def _capture_calls(module: nn.Module, args: tuple, kwargs: dict) -> dict[nn.Module, list[tuple[tuple, dict]]]:
    """Run once and record the (args, kwargs) of every submodule call."""
    calls: dict[nn.Module, list[tuple[tuple, dict]]] = {}
    handles = []

    def pre_hook(m, a, kw):
        calls.setdefault(m, []).append((a, dict(kw)))

    for m in module.modules():
        handles.append(m.register_forward_pre_hook(pre_hook, with_kwargs=True))
    try:
        with torch.inference_mode():
            module(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return calls


def _owns_params(m: nn.Module) -> bool:
    return any(True for _ in m.parameters(recurse=False))


def _unique_params(modules: list[nn.Module]) -> int:
    seen: set[int] = set()
    total = 0
    for mod in modules:
        for p in mod.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
    return total


def _call_args(actor: nn.Module, obs: torch.Tensor, extra: dict | None) -> tuple[tuple, dict]:
    """``actor(obs, **extra)`` when the names match ``forward``'s, else ``actor(obs, *extra.values())``."""
    if not extra:
        return (obs,), {}
    try:
        inspect.signature(actor.forward).bind(obs, **extra)
        return (obs,), dict(extra)
    except (TypeError, ValueError):
        return (obs, *extra.values()), {}


def to_device(v: Any, dev: torch.device | str) -> Any:
    """Detached copy of a tensor (or tuple/list of them) on ``dev``; other values as they are."""
    if isinstance(v, torch.Tensor):
        return v.detach().to(dev)
    if isinstance(v, (tuple, list)):
        return type(v)(to_device(x, dev) for x in v)
    return v


def input_dtype(m: nn.Module) -> torch.dtype:
    """The floating dtype a module's inputs should have (its first float parameter's)."""
    for p in m.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _cost_one(agent: int, actor: nn.Module, obs_dim: int, extra: dict | None) -> ModuleCost:
    params = _unique_params([actor])
    m = copy.deepcopy(actor).to("cpu").eval()  # thop / hooks only ever touch this copy
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(1, int(obs_dim), generator=gen).to(input_dtype(m))
    args, kwargs = _call_args(m, obs, {k: to_device(v, "cpu") for k, v in (extra or {}).items()})
    custom_ops = _thop_custom_ops()

    macs = _thop_macs(m, args, kwargs, custom_ops)
    flops, per_op = _fcm_flops(m, args, kwargs)
    calls = _capture_calls(m, args, kwargs)

    notes: list[str] = []
    # FlopCounterMode fix-up for recurrent modules it cannot see into (fused kernels)
    for mod, mod_calls in calls.items():
        if not isinstance(mod, _RECURRENT):
            continue
        hand = 2 * sum(_evaluations(a[0] if a else kw.get("input")) for a, kw in mod_calls) * _weight_numel(mod)
        seen = sum(_fcm_flops(mod, a, kw)[0] for a, kw in mod_calls)
        if seen < hand:
            flops += hand - seen
            notes.append(
                f"FlopCounterMode counted {seen} of {hand} FLOPs in {type(mod).__name__} "
                "(no formula for its fused kernel); hand formula added"
            )

    # modules thop has no rule for that own parameters / are known compute, and got 0 MACs
    zero_counted: list[str] = []
    for mod, mod_calls in calls.items():
        if _thop_has_rule(mod, custom_ops):
            continue
        if not (_owns_params(mod) or isinstance(mod, _KNOWN_COMPUTE)):
            continue
        own = sum(_thop_macs(mod, a, kw, custom_ops) for a, kw in mod_calls)
        for child in mod.children():
            own -= sum(_thop_macs(child, a, kw, custom_ops) for a, kw in calls.get(child, []))
        if own <= 0 and type(mod).__name__ not in zero_counted:
            zero_counted.append(type(mod).__name__)

    from_macs = 2 * macs
    agree = abs(flops - from_macs) <= AGREE_RTOL * max(flops, from_macs)
    note = ""
    if not agree:
        parts = []
        if zero_counted:
            parts.append(
                f"thop has no rule for {', '.join(zero_counted)} (owns parameters) and counted its work as 0 MACs"
            )
        diff = flops - from_macs
        ops = ", ".join(f"{k}={v}" for k, v in sorted(per_op.items())) or "none"
        if diff > 0:
            parts.append(f"FlopCounterMode counted {diff} FLOPs more than 2*thop MACs (its ops: {ops})")
        else:
            parts.append(
                f"thop counted {-diff // 2} MACs more than FlopCounterMode FLOPs/2 (FlopCounterMode ops: {ops}); "
                "work in ops FlopCounterMode has no formula for, or a thop rule counting elementwise work"
            )
        note = "; ".join(parts + notes)
    return ModuleCost(
        agent=agent,
        params=params,
        macs=macs,
        flops=flops,
        flops_from_macs=from_macs,
        agree=agree,
        note=note,
        zero_counted=zero_counted,
    )


def _extra_key(extra: dict | None) -> tuple:
    if not extra:
        return ()
    key = []
    for k, v in extra.items():
        if isinstance(v, torch.Tensor):
            key.append((k, tuple(v.shape), str(v.dtype)))
        else:
            key.append((k, id(v)))
    return tuple(key)


def count_policy_cost(
    actors: list[nn.Module], obs_dims: list[int], extra_inputs: list[dict] | None = None
) -> dict:
    """Count params, MACs (thop) and FLOPs (FlopCounterMode) of every agent's policy for one decision.

    ``actors[i]`` is called as ``actors[i](obs)`` with ``obs`` of shape ``(1, obs_dims[i])``; with
    ``extra_inputs[i]`` (e.g. ``{"h": hidden}`` for a GRU actor ``actor(obs, h) -> (logits, h)``) the
    call is ``actor(obs, **extra)`` when the names match ``forward``'s parameters, else the values are
    passed positionally after ``obs`` in dict order. Counting runs on CPU deep copies; the given
    modules are never modified.

    Returns a JSON-ready dict: team ``params`` (distinct parameters over all actors: a module shared
    by several agents counts once), ``macs``/``flops`` (sums over agents: a shared module still
    runs once per agent), ``flops_thop`` (= 2 * macs), ``agree`` (every agent agrees),
    ``per_agent`` (:class:`ModuleCost` as dicts) and ``counter``.
    """
    actors = list(actors)
    obs_dims = [int(d) for d in obs_dims]
    if len(actors) != len(obs_dims):
        raise ValueError(f"{len(actors)} actors but {len(obs_dims)} obs_dims")
    if extra_inputs is not None and len(extra_inputs) != len(actors):
        raise ValueError(f"{len(actors)} actors but {len(extra_inputs)} extra_inputs")
    extras = list(extra_inputs) if extra_inputs is not None else [None] * len(actors)

    cache: dict[tuple, ModuleCost] = {}
    per_agent: list[ModuleCost] = []
    for i, (actor, dim, extra) in enumerate(zip(actors, obs_dims, extras, strict=True)):
        key = (id(actor), dim, _extra_key(extra))
        if key not in cache:
            cache[key] = _cost_one(i, actor, dim, extra)
        cost = copy.deepcopy(cache[key])
        cost.agent = i
        per_agent.append(cost)

    macs = sum(c.macs for c in per_agent)
    return {
        "params": _unique_params(actors),
        "macs": macs,
        "flops": sum(c.flops for c in per_agent),
        "flops_thop": 2 * macs,
        "agree": all(c.agree for c in per_agent),
        "per_agent": [asdict(c) for c in per_agent],
        "counter": COUNTER_NAME,
    }
