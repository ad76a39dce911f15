"""Pure loss functions shared by the distillation methods.

Conventions (REFERENCE.md):

- Per-agent inputs may be a single ``(B, A)`` tensor or a list with one tensor per agent
  (agents may have different action counts). Every loss reduces with means — over the
  batch, then over agents — so its value never grows with the batch size or team size.
- ``avail`` masks are bool ``(B, A)``; unavailable actions are pushed to ``NEG_INF`` with
  ``masked_logits`` before any softmax, argmax or KL, so they carry no probability and
  changing their logits never changes a loss.
- Teacher tensors are targets: callers pass them without grad (they come from the frozen
  teacher under ``torch.no_grad``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from kdmarl_bench.models.mlp import masked_logits

Tensors = torch.Tensor | Sequence[torch.Tensor]

# Park et al. (CVPR 2019) relational KD uses the Huber loss with δ = 1.
HUBER_DELTA = 1.0
_EPS = 1e-12


def _as_list(x: Tensors | None, n: int | None = None) -> list:
    if x is None:
        return [None] * (n or 1)
    if isinstance(x, torch.Tensor):
        return [x]
    return list(x)


def _agent_mean(per_agent: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(per_agent).mean()


def _zip_agents(student: Tensors, teacher: Tensors, avail: Tensors | None):
    s, t = _as_list(student), _as_list(teacher)
    m = _as_list(avail, len(s))
    if not (len(s) == len(t) == len(m)):
        raise ValueError(f"agent count mismatch: student {len(s)}, teacher {len(t)}, avail {len(m)}")
    return zip(s, t, m, strict=True)


# ---- action-distribution losses ---------------------------------------------------


def _row_mean(per_row: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean over the batch, or the weighted mean ``Σ w·x / Σ w`` with per-row ``weights`` ``(B,)``."""
    if weights is None:
        return per_row.mean()
    return (per_row * weights).sum() / weights.sum().clamp_min(_EPS)


def kl_distill(student_logits: Tensors, teacher_logits: Tensors, avail: Tensors | None = None,
               tau: float = 1.0, weights: torch.Tensor | None = None) -> torch.Tensor:
    """τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)) over available actions; mean over batch and agents.

    The τ² factor keeps gradient magnitudes comparable across temperatures (Hinton et al. 2015).
    Zero iff the masked student and teacher distributions agree. ``weights`` ``(B,)`` (>= 0): a
    weighted mean over the batch instead (``Σ w·KL / Σ w``, e.g. advantage weights).
    """
    per_agent = []
    for zs, zt, m in _zip_agents(student_logits, teacher_logits, avail):
        log_ps = torch.log_softmax(masked_logits(zs, m) / tau, -1)
        log_pt = torch.log_softmax(masked_logits(zt, m) / tau, -1)
        terms = log_pt.exp() * (log_pt - log_ps)
        if m is not None:
            terms = torch.where(m, terms, torch.zeros_like(terms))  # exactly 0 on masked actions
        per_agent.append(_row_mean(terms.sum(-1), weights))
    return tau**2 * _agent_mean(per_agent)


def ce_to_actions(student_logits: Tensors, actions: Tensors, avail: Tensors | None = None,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy (−log π_S(a | o)) of given actions (e.g. those the teacher executed) under the
    student's masked softmax; ``actions`` per agent ``(B,)`` int64. Mean over batch and agents, or
    with ``weights`` ``(B,)`` the weighted mean over the batch (advantage-weighted regression)."""
    per_agent = []
    for zs, a, m in _zip_agents(student_logits, actions, avail):
        nll = F.cross_entropy(masked_logits(zs, m), a, reduction="none")
        per_agent.append(_row_mean(nll, weights))
    return _agent_mean(per_agent)


def ce_to_teacher(student_logits: Tensors, teacher_logits: Tensors, avail: Tensors | None = None) -> torch.Tensor:
    """Cross-entropy of the student against the teacher's greedy (masked argmax) action.

    Minimum 0, reached when the student puts all mass on the teacher's greedy action; a student
    equal to the teacher scores −log max softmax(z_T) (the teacher's own CE), not 0.
    """
    per_agent = []
    for zs, zt, m in _zip_agents(student_logits, teacher_logits, avail):
        target = masked_logits(zt, m).argmax(-1)
        per_agent.append(F.cross_entropy(masked_logits(zs, m), target))
    return _agent_mean(per_agent)


def logit_mse(student_logits: Tensors, teacher_logits: Tensors, avail: Tensors | None = None) -> torch.Tensor:
    """MSE between student and teacher logits over available actions (Ba & Caruana 2014).

    Logits are shift-invariant (softmax(z + c) = softmax(z)), so both are first centred by their
    mean over the available actions; the squared error is then averaged over the available
    actions of each row, then over batch and agents. Unavailable actions are ignored.
    """
    per_agent = []
    for zs, zt, m in _zip_agents(student_logits, teacher_logits, avail):
        w = torch.ones_like(zs) if m is None else m.to(zs.dtype)
        n_avail = w.sum(-1, keepdim=True).clamp_min(1.0)
        zs_c = zs - (zs * w).sum(-1, keepdim=True) / n_avail
        zt_c = zt - (zt * w).sum(-1, keepdim=True) / n_avail
        sq = (zs_c - zt_c) ** 2 * w
        per_agent.append((sq.sum(-1) / n_avail.squeeze(-1)).mean())
    return _agent_mean(per_agent)


def masked_entropy(logits: Tensors, avail: Tensors | None = None) -> torch.Tensor:
    """Entropy of the masked policy; mean over batch and agents."""
    per_agent = []
    for z, m in zip(_as_list(logits), _as_list(avail, len(_as_list(logits))), strict=True):
        logp = torch.log_softmax(masked_logits(z, m), -1)
        per_agent.append(-(logp.exp() * logp).sum(-1).mean())
    return _agent_mean(per_agent)


def ppo_clip_loss(new_logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, clip: float = 0.2) -> torch.Tensor:
    """PPO clipped surrogate, to minimise: mean of max(−A·r, −A·clip(r, 1±ε)).

    ``new_logp``/``old_logp`` are ``(B,)`` or ``(B, N)`` (per agent); ``adv`` is ``(B,)`` (a team
    advantage, broadcast over agents) or the same shape as the log-probs. At ratio 1 the loss
    is −mean(adv).
    """
    if adv.dim() < new_logp.dim():
        adv = adv.reshape(adv.shape + (1,) * (new_logp.dim() - adv.dim())).expand_as(new_logp)
    ratio = (new_logp - old_logp).exp()
    return torch.max(-adv * ratio, -adv * ratio.clamp(1.0 - clip, 1.0 + clip)).mean()


def normalize_advantages(adv: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit std over the whole batch (a single value is returned as 0)."""
    if adv.numel() < 2:
        return adv - adv.mean()
    return (adv - adv.mean()) / (adv.std() + eps)


# ---- structural losses (agent × agent, per timestep) -------------------------------


def pairwise_distances(x: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the N rows of each ``(B, N, D)`` sample → ``(B, N, N)``.

    Computed by hand with a tiny epsilon inside the root: ``cdist`` has an undefined gradient at
    distance 0, which happens when two agents' embeddings coincide.
    """
    diff = x.unsqueeze(2) - x.unsqueeze(1)
    return (diff.pow(2).sum(-1) + _EPS).sqrt()


def normalized_relation(x: torch.Tensor, per_timestep: bool = True) -> torch.Tensor:
    """Off-diagonal pairwise distances divided by their mean: ``(B, N·(N−1))``.

    ``per_timestep``: the mean is taken per timestep (each agent×agent matrix on its own), else
    over the whole batch (Park et al.'s original minibatch mean). Invariant to a uniform scale of
    the embeddings and independent of their width.
    """
    n = x.shape[1]
    off = ~torch.eye(n, dtype=torch.bool, device=x.device)
    d = pairwise_distances(x)[:, off]
    mean = d.mean(-1, keepdim=True) if per_timestep else d.mean()
    return d / mean.clamp_min(1e-8)


def relation_loss(student_emb: torch.Tensor, teacher_emb: torch.Tensor, per_timestep: bool = True) -> torch.Tensor:
    """Structural relation loss: distance-form relational KD (Park et al., CVPR 2019) across agents.

    ``student_emb`` ``(B, N, D)`` and ``teacher_emb`` ``(B, N, D_T)`` (widths may differ). Per
    timestep, each side's agent×agent distance matrix is normalised by its mean off-diagonal
    distance; the Huber loss between them is averaged over agent pairs and timesteps. Zero for a
    single agent, for identical embeddings and for embeddings that differ by a uniform scale.

    With two agents and ``per_timestep=True`` the loss is identically 0 (one distance, divided by
    itself); ``per_timestep=False`` normalises by the mean over the whole batch instead, which keeps
    how the pair's distance varies across timesteps.
    """
    if student_emb.shape[:2] != teacher_emb.shape[:2]:
        raise ValueError(f"relation_loss: (B, N) mismatch {tuple(student_emb.shape)} vs {tuple(teacher_emb.shape)}")
    if student_emb.shape[1] < 2:
        return student_emb.sum() * 0.0  # no pairs: zero, but stays in the graph
    rs = normalized_relation(student_emb, per_timestep)
    rt = normalized_relation(teacher_emb, per_timestep)
    return F.smooth_l1_loss(rs, rt, beta=HUBER_DELTA)


def role_alignment_loss(student_proj: torch.Tensor, teacher_proj: torch.Tensor, kappa: float = 0.1) -> torch.Tensor:
    """Role alignment: InfoNCE across agents, per timestep.

    logits_ij = cos(student_i, teacher_j) / κ; agent i's target is its own teacher counterpart j = i;
    cross-entropy averaged over agents and timesteps. Inputs ``(B, N, D)``. With one agent the
    loss is 0 (a single candidate). When student = teacher (distinct rows) the loss is lower than
    for any permutation of the agents.
    """
    if student_proj.shape != teacher_proj.shape:
        raise ValueError(f"role_alignment_loss: shape mismatch {tuple(student_proj.shape)} vs {tuple(teacher_proj.shape)}")
    b, n, _ = student_proj.shape
    s = F.normalize(student_proj, dim=-1)
    t = F.normalize(teacher_proj, dim=-1)
    logits = torch.einsum("bid,bjd->bij", s, t) / kappa  # (B, N, N)
    target = torch.arange(n, device=s.device).expand(b, n)
    return F.cross_entropy(logits.reshape(b * n, n), target.reshape(b * n))


def role_contrast_across_time(student_proj: torch.Tensor, teacher_proj: torch.Tensor,
                              kappa: float = 0.1) -> torch.Tensor:
    """Role alignment that agent identity alone cannot solve: InfoNCE across the minibatch's rows, per agent.

    logits_i[b, b'] = cos(student_{b,i}, teacher_{b',i}) / κ; agent i's embedding at row b must pick
    out its own teacher counterpart at the same row among that teacher agent's embeddings at the
    other rows; cross-entropy averaged over agents and rows. Inputs ``(B, N, D)``; chance level is
    ln B. An embedding that carries only the agent's index is the same for every row, so each of
    its anchors sees the same softmax over the candidates and its loss is at least ln B (Gibbs):
    the term can only be lowered by embeddings that vary with the state the way the teacher's do.
    With one row the loss is 0.
    """
    if student_proj.shape != teacher_proj.shape:
        raise ValueError(f"role_contrast_across_time: shape mismatch {tuple(student_proj.shape)} "
                         f"vs {tuple(teacher_proj.shape)}")
    b, n, _ = student_proj.shape
    s = F.normalize(student_proj, dim=-1)
    t = F.normalize(teacher_proj, dim=-1)
    logits = torch.einsum("bid,cid->ibc", s, t) / kappa  # (N, B, B): agent, anchor row, candidate row
    target = torch.arange(b, device=s.device).expand(n, b)
    return F.cross_entropy(logits.reshape(n * b, b), target.reshape(n * b))
