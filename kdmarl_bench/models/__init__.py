"""Policy and value networks, and the student capacity rule."""

from kdmarl_bench.models.capacity import auto_width, student_widths
from kdmarl_bench.models.mlp import MLP, Actor, masked_logits

__all__ = ["MLP", "Actor", "auto_width", "masked_logits", "student_widths"]
