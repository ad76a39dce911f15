"""``teacher``: the expert itself, evaluated under the same protocol (the 100% line).

The teacher does not train, so its records carry no learning curve: its retention is 1 at every
budget point (the report draws it as the dashed 1.0 line)."""

from __future__ import annotations

from dataclasses import dataclass

from kdmarl_bench.methods.base import DistillMethod, MethodConfig, register_method


@dataclass
class TeacherConfig(MethodConfig):
    """No training knobs: the teacher is only evaluated and profiled."""


@register_method("teacher")
class TeacherMethod(DistillMethod):
    config_cls = TeacherConfig
    trains_student = False
    kind = "teacher"
