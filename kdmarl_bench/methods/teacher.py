"""``teacher``: the expert itself, evaluated under the same protocol (the 100% line)."""

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
