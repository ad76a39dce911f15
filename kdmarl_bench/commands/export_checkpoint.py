"""``kdmarl-bench export CHECKPOINT --format onnx|executorch|…``: the checkpoint half of ``export``.

``export`` takes a leaderboard for the table formats and a checkpoint for the deployment formats;
these helpers tell the two apart and name both choices when they are mixed up.
"""

from __future__ import annotations

from pathlib import Path

import click

from kdmarl_bench.commands.common import CliError, progress_bar
from kdmarl_bench.deploy_runtimes import checkpoint_formats, runtimes
from kdmarl_bench.errors import UsageError
from kdmarl_bench.results.render.formats import FORMATS
from kdmarl_bench.safeio import read_json

LEADERBOARD_FORMATS = ", ".join(FORMATS.names())
CHECKPOINT_FORMATS = ", ".join(checkpoint_formats())


def checkpoint_export_help() -> str:
    """The checkpoint half of ``export --format``'s help, from the runtime registry."""
    extras = dict.fromkeys(rt.extra for rt in runtimes() if rt.export_format and rt.extra)
    needs = " or ".join(f"`pip install 'kdmarl-bench[{e}]'`" for e in extras)
    return (f"Of a CHECKPOINT (NAME.safetensors or zoo:TASK): {' / '.join(checkpoint_formats())}: one model per "
            f"agent + manifest.json into the folder --out" + (f" (needs {needs})." if needs else "."))


def looks_like_checkpoint(source: str) -> bool:
    """``zoo:TASK``, a ``.safetensors`` file, or a ``.json`` checkpoint card (has ``architecture``)."""
    if source.startswith("zoo:"):
        return True
    p = Path(source)
    if p.suffix == ".safetensors":
        return True
    if p.suffix == ".json" and p.is_file():
        try:
            data = read_json(p, what="JSON file")  # bounded nesting: a hostile file is judged, not a crash
        except UsageError:
            return False
        return isinstance(data, dict) and "architecture" in data and "records" not in data
    return False


def reject_checkpoint(source: str, fmt: str, int8: bool) -> None:
    """Refuse (exit 2) a checkpoint given to a leaderboard format, or --int8 without --format onnx."""
    if looks_like_checkpoint(source):
        raise CliError(f"{source}: is a checkpoint, but --format {fmt} exports a leaderboard "
                       f"(leaderboard formats: {LEADERBOARD_FORMATS}; checkpoint formats: {CHECKPOINT_FORMATS})", 2)
    if int8:
        raise CliError(f"--int8 applies to --format onnx (a checkpoint export), not --format {fmt}", 2)


def export_checkpoint_cli(source: str, fmt: str, out: Path | None, int8: bool) -> None:
    # torch/scipy: loaded when this command runs, not at the CLI's start-up
    from kdmarl_bench.profiling.artifacts import export_checkpoint

    if not looks_like_checkpoint(source):
        raise CliError(f"{source}: --format {fmt} exports a checkpoint (NAME.safetensors, its NAME.json card, "
                       f"or zoo:TASK), not a leaderboard (checkpoint formats: {CHECKPOINT_FORMATS}; leaderboard "
                       f"formats: {LEADERBOARD_FORMATS})", 2)
    if out is None:
        raise CliError(f"--format {fmt} writes one model per agent and manifest.json: give --out DIR", 2)
    with progress_bar(f"export {fmt}", None, "") as update:  # each step named while it runs
        result = export_checkpoint(source, fmt, out, int8=int8, on_step=lambda text: update(0, status=text))
    eq = result.manifest["equivalence"]
    for f in result.files:
        click.echo(f"wrote {f}", err=True)
    click.echo(f"wrote {result.manifest_path}", err=True)
    verdict = "n/a (int8)" if eq["atol"] is None else ("passed" if eq["passed"] else "FAILED")
    click.echo(f"equivalence vs eager on {eq['n']} observations per agent ({eq['n_recorded']} recorded): "
               f"max |logit diff| {eq['max_abs_diff']:.2e}, greedy actions agree {eq['action_agreement']:.1%}, "
               f"check {verdict}", err=True)
