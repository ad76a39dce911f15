"""Cost measurement: FLOPs/params (thop + FlopCounterMode cross-check) and inference latency."""

from kdmarl_bench.profiling.flops import ModuleCost, count_policy_cost, gru_cell_ops, recurrent_macs_per_step
from kdmarl_bench.profiling.latency import cuda_available, time_batched, time_decentralized

__all__ = [
    "ModuleCost",
    "count_policy_cost",
    "cuda_available",
    "gru_cell_ops",
    "recurrent_macs_per_step",
    "time_batched",
    "time_decentralized",
]
