"""FLOP / MAC / parameter counting against hand counts (kdmarl_bench.profiling.flops)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from kdmarl_bench.profiling.flops import ModuleCost, count_policy_cost, gru_cell_ops

# Convention under test: MACs = multiply-accumulates of matrix products only. Neither counter counts
# bias adds (FlopCounterMode's addmm formula is 2*M*K*N, thop's Linear rule is in_features per output),
# activations or normalisation; FLOPs = 2 * MACs.


def mlp(obs: int = 10, hidden: int = 32, actions: int = 5) -> nn.Module:
    return nn.Sequential(nn.Linear(obs, hidden), nn.ReLU(), nn.Linear(hidden, actions))


def n_params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


class GRUCellActor(nn.Module):
    """MAPPO-style recurrent actor: Linear -> ReLU -> GRUCell -> Linear; forward(obs, h) -> (logits, h)."""

    def __init__(self, obs: int, hidden: int, actions: int):
        super().__init__()
        self.fc = nn.Linear(obs, hidden)
        self.rnn = nn.GRUCell(hidden, hidden)
        self.head = nn.Linear(hidden, actions)

    def forward(self, obs, h):
        h = self.rnn(torch.relu(self.fc(obs)), h)
        return self.head(h), h


class GRULayerActor(nn.Module):
    """Same with an nn.GRU layer (sequence length 1) and a hidden argument not named ``h``."""

    def __init__(self, obs: int, hidden: int, actions: int):
        super().__init__()
        self.fc = nn.Linear(obs, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, actions)

    def forward(self, obs, hidden_state):
        y, h = self.rnn(self.fc(obs).unsqueeze(1), hidden_state)
        return self.head(y[:, 0]), h


class RawMM(nn.Module):
    """A custom layer with a raw nn.Parameter matmul through torch.mm: thop has no rule and no functional hook."""

    def __init__(self, i: int, o: int):
        super().__init__()
        self.w = nn.Parameter(torch.randn(i, o))

    def forward(self, x):
        return torch.mm(x, self.w)


class RawMatmulOp(RawMM):
    """The same product written ``x @ w``: thop (rules per module type) has no hook for it either."""

    def forward(self, x):
        return x @ self.w


# ----------------------------------------------------------------------------- MLP


def test_known_mlp_counts():
    actor = mlp()
    cost = count_policy_cost([actor], [10])
    macs = 10 * 32 + 32 * 5
    assert cost["macs"] == macs
    assert cost["flops"] == 2 * macs == 960  # bias adds not counted by either counter
    assert cost["flops_thop"] == 2 * macs
    assert cost["params"] == 10 * 32 + 32 + 32 * 5 + 5 == n_params(actor)
    assert cost["agree"] is True
    assert cost["counter"] == "thop+FlopCounterMode"
    (agent,) = cost["per_agent"]
    assert agent == {
        "agent": 0,
        "params": 517,
        "macs": 480,
        "flops": 960,
        "flops_from_macs": 960,
        "agree": True,
        "note": "",
        "zero_counted": [],
    }
    assert set(agent) == set(ModuleCost.__dataclass_fields__)


def test_bias_adds_are_not_counted():
    with_bias = count_policy_cost([nn.Linear(10, 32)], [10])
    without = count_policy_cost([nn.Linear(10, 32, bias=False)], [10])
    assert with_bias["flops"] == without["flops"] == 2 * 320
    assert with_bias["macs"] == without["macs"] == 320
    assert with_bias["params"] == without["params"] + 32


def test_activations_and_layernorm_count_zero_in_both_counters():
    actor = nn.Sequential(
        nn.Linear(10, 64), nn.LayerNorm(64), nn.GELU(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 5), nn.ReLU()
    )
    cost = count_policy_cost([actor], [10])
    macs = 10 * 64 + 64 * 64 + 64 * 5
    assert cost["macs"] == macs
    assert cost["flops"] == 2 * macs
    assert cost["agree"] is True
    assert cost["per_agent"][0]["zero_counted"] == []
    assert cost["params"] == n_params(actor)


def test_team_total_is_sum_over_heterogeneous_agents():
    speaker, listener = mlp(3, 16, 3), mlp(11, 16, 5)
    cost = count_policy_cost([speaker, listener], [3, 11])
    a, b = cost["per_agent"]
    assert (a["agent"], b["agent"]) == (0, 1)
    assert a["macs"] == 3 * 16 + 16 * 3
    assert b["macs"] == 11 * 16 + 16 * 5
    assert cost["macs"] == a["macs"] + b["macs"]
    assert cost["flops"] == a["flops"] + b["flops"]
    assert cost["flops_thop"] == 2 * cost["macs"]
    assert cost["params"] == a["params"] + b["params"] == n_params(speaker, listener)


def test_shared_module_params_counted_once_flops_per_agent():
    shared = mlp(10, 32, 5)
    cost = count_policy_cost([shared, shared, shared], [10, 10, 10])
    assert cost["params"] == n_params(shared)  # one set of weights in the team
    assert [a["params"] for a in cost["per_agent"]] == [n_params(shared)] * 3  # each agent deploys all of it
    assert cost["flops"] == 3 * 960  # each agent runs it for its own decision
    assert cost["macs"] == 3 * 480
    assert [a["agent"] for a in cost["per_agent"]] == [0, 1, 2]


def test_partially_shared_parameters_counted_once():
    trunk = nn.Linear(10, 32)
    heads = [nn.Linear(32, 5), nn.Linear(32, 5)]
    actors = [nn.Sequential(trunk, nn.ReLU(), h) for h in heads]
    cost = count_policy_cost(actors, [10, 10])
    assert cost["params"] == n_params(trunk) + n_params(*heads)
    assert cost["flops"] == 2 * 960


def test_original_modules_untouched():
    actor = mlp()
    actor.train()
    keys = set(actor.state_dict())
    before = {k: v.clone() for k, v in actor.state_dict().items()}
    count_policy_cost([actor], [10])
    assert set(actor.state_dict()) == keys
    for m in actor.modules():
        assert not hasattr(m, "total_ops") and not hasattr(m, "total_params")
        assert m.training
        assert not m._forward_hooks and not m._forward_pre_hooks
    for k, v in actor.state_dict().items():
        assert torch.equal(v, before[k])


def test_result_is_json_ready():
    cost = count_policy_cost([mlp(), GRUCellActor(10, 8, 5)], [10, 10], [{}, {"h": torch.zeros(1, 8)}])
    assert json.loads(json.dumps(cost)) == cost


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        count_policy_cost([mlp()], [10, 10])
    with pytest.raises(ValueError):
        count_policy_cost([mlp()], [10], [{}, {}])


# ----------------------------------------------------------------------------- recurrent


@pytest.mark.parametrize("i,h,bias", [(10, 16, True), (80, 64, True), (7, 5, False)])
def test_gru_cell_hand_count(i, h, bias):
    cell = nn.GRUCell(i, h, bias=bias)
    cost = count_policy_cost([cell], [i], [{"hx": torch.zeros(1, h)}])
    hand = 3 * (i * h + h * h)  # 3 gates (r, z, n) x (W_i x + W_h h)
    assert gru_cell_ops(i, h, bias)["matmul_macs"] == hand
    assert cost["macs"] == hand
    assert cost["flops"] == 2 * hand
    assert cost["agree"] is True
    assert cost["params"] == 3 * h * (i + h) + (6 * h if bias else 0)


@pytest.mark.parametrize("i,h,bias", [(10, 16, True), (7, 5, False)])
def test_thop_builtin_gru_rule_is_hand_count_plus_elementwise_terms(i, h, bias):
    """Documents what the replaced thop rule counts: matmuls + 7H gate ops + 6H bias adds."""
    from thop import profile

    macs, _ = profile(nn.GRUCell(i, h, bias=bias), inputs=(torch.zeros(1, i), torch.zeros(1, h)), verbose=False)
    ops = gru_cell_ops(i, h, bias)
    assert ops["elementwise_ops"] == 7 * h + (6 * h if bias else 0)
    assert int(macs) == ops["matmul_macs"] + ops["elementwise_ops"]


def test_gru_cell_actor_hand_count():
    o, h, a = 75, 64, 8
    cost = count_policy_cost([GRUCellActor(o, h, a)], [o], [{"h": torch.zeros(1, h)}])
    hand = o * h + 3 * (h * h + h * h) + h * a
    assert cost["macs"] == hand
    assert cost["flops"] == 2 * hand
    assert cost["agree"] is True


def test_gru_layer_actor_positional_hidden():
    o, h, a = 30, 16, 9
    # the dict key does not match forward's parameter name: passed positionally after obs
    cost = count_policy_cost([GRULayerActor(o, h, a)], [o], [{"h": torch.zeros(1, 1, h)}])
    hand = o * h + 3 * (h * h + h * h) + h * a
    assert cost["macs"] == hand
    assert cost["flops"] == 2 * hand
    assert cost["agree"] is True


def test_flop_counter_mode_sees_gru_on_cpu():
    """FlopCounterMode decomposes nn.GRU / nn.GRUCell into addmm on the CPU: no fix-up needed."""
    from kdmarl_bench.profiling.flops import _fcm_flops

    i, h, t = 12, 16, 5
    flops, per_op = _fcm_flops(nn.GRU(i, h), (torch.zeros(t, 1, i),), {})
    assert flops == 2 * t * 3 * (i * h + h * h)
    assert set(per_op) <= {"aten.addmm", "aten.mm"}
    flops, _ = _fcm_flops(nn.GRUCell(i, h), (torch.zeros(1, i), torch.zeros(1, h)), {})
    assert flops == 2 * 3 * (i * h + h * h)


def test_lstm_fused_kernel_is_fixed_up_by_hand_count():
    i, h = 12, 16
    lstm = nn.LSTM(i, h, batch_first=True)
    cost = count_policy_cost([lstm], [i])  # (1, 12) is an unbatched sequence of length 1
    hand = 4 * (i * h + h * h)
    assert cost["macs"] == hand
    assert cost["flops"] == 2 * hand  # whatever FlopCounterMode saw of the oneDNN kernel
    assert cost["agree"] is True


def test_multilayer_bidirectional_gru():
    i, h = 12, 16

    class Actor(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(i, h, num_layers=2, bidirectional=True, batch_first=True)

        def forward(self, obs, h0):
            return self.rnn(obs.unsqueeze(1), h0)

    cost = count_policy_cost([Actor()], [i], [{"h0": torch.zeros(4, 1, h)}])
    hand = 2 * 3 * (i * h + h * h) + 2 * 3 * (2 * h * h + h * h)
    assert cost["macs"] == hand
    assert cost["flops"] == 2 * hand
    assert cost["agree"] is True


# ----------------------------------------------------------------------------- zero-counted layers


def test_zero_counted_lists_custom_parameter_module():
    actor = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), RawMM(32, 5))
    cost = count_policy_cost([actor], [10])
    agent = cost["per_agent"][0]
    assert agent["zero_counted"] == ["RawMM"]
    assert agent["macs"] == 10 * 32  # thop: the RawMM product counted as 0
    assert agent["flops"] == 2 * (10 * 32 + 32 * 5)  # FlopCounterMode sees aten.mm
    assert agent["agree"] is False
    assert cost["agree"] is False
    assert "RawMM" in agent["note"] and "aten.mm" in agent["note"]


def test_functional_matmul_in_custom_module_is_flagged_not_miscounted():
    # thop counts per module rule only; FlopCounterMode sees the aten op, so the record keeps the
    # right FLOPs and says which module thop missed instead of silently agreeing on a wrong number.
    cost = count_policy_cost([RawMatmulOp(10, 5)], [10])
    agent = cost["per_agent"][0]
    assert agent["zero_counted"] == ["RawMatmulOp"]
    assert agent["macs"] == 0 and agent["flops"] == 2 * 10 * 5
    assert agent["agree"] is False
    assert "RawMatmulOp" in agent["note"] and "FlopCounterMode counted 100 FLOPs more" in agent["note"]


def test_the_mit_thop_package_does_the_counting():
    # The licence matters (this project is MIT): the AGPL fork "ultralytics-thop" installs the same
    # import name, so check which distribution provides the thop module that is imported.
    import importlib.metadata as md
    from pathlib import Path

    import thop

    dist = md.distribution("thop")
    assert dist.metadata["License"] == "MIT"
    assert Path(thop.__file__).resolve() == Path(dist.locate_file("thop/__init__.py")).resolve()
    # both distributions write thop/__init__.py: the imported one must be the MIT release's files
    assert dist.version.startswith(thop.__version__), (thop.__version__, dist.version)
