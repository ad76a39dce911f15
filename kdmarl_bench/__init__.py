"""kdmarl-bench: benchmarking knowledge distillation in multi-agent RL."""

__version__ = "0.1.0"
