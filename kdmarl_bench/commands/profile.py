"""``kdmarl-bench profile``: FLOPs, params and latency of one saved policy."""

from __future__ import annotations

import click

from kdmarl_bench.commands.common import echo_json, handle_errors, stdout_console


@click.command("profile")
@click.argument("checkpoint")
@click.option("--iters", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Timed team decisions per repeat.")
@click.option("--warmup", type=click.IntRange(min=0), default=100, show_default=True,
              help="Untimed team decisions before timing.")
@click.option("--threads", default="1,0", show_default=True, help="CPU thread counts (0 = all cores).")
@click.option("--batch", "batch_sizes", default="", help="Batched latency at these batch sizes, e.g. 32,1024.")
@click.option("--cuda/--no-cuda", default=True, show_default=True, help="Also time on CUDA when present.")
@click.option("--torchscript/--no-torchscript", default=True, show_default=True,
              help="Also time the TorchScript deployment path (1 thread, decentralized).")
@click.option("--json", "as_json", is_flag=True, help="Print cost and latency entries as JSON.")
@handle_errors
def profile_cmd(checkpoint, iters, warmup, threads, batch_sizes, cuda, torchscript, as_json):
    """Count FLOPs (thop + FlopCounterMode) and time CHECKPOINT (path or zoo:TASK)."""
    from kdmarl_bench.commands.common import CliError
    from kdmarl_bench.profiling.policy import profile_policy
    from kdmarl_bench.teachers.zoo import load_policy_ref

    try:
        thread_list = tuple(int(t) for t in threads.split(",") if t.strip())
        batch_list = tuple(int(b) for b in batch_sizes.split(",") if b.strip())
    except ValueError as exc:
        raise CliError(f"--threads/--batch: expected comma-separated integers ({exc})") from exc
    policy, card = load_policy_ref(checkpoint)
    cost, latency = profile_policy(policy, iters=iters, warmup=warmup, threads=thread_list, batch_sizes=batch_list,
                                   cuda="auto" if cuda else "off",
                                   paths=("eager", "torchscript") if torchscript else ("eager",))
    out = {"checkpoint": checkpoint, "task": card["task"], "kind": card.get("kind"), "cost": cost, "latency": latency}
    if as_json:
        echo_json(out)
        return
    from rich.table import Table

    con = stdout_console()
    con.print(f"{checkpoint} ({card.get('kind')}, {card['task']}): params {cost['params']:,} · MACs {cost['macs']:,} "
              f"(thop) · FLOPs {cost['flops']:,} (FlopCounterMode) · agree {cost['agree']}")
    t = Table(title="latency per team decision")
    for col in ("path", "device", "threads", "mode", "batch", "p50 ms", "p90 ms", "p99 ms", "Timer ms", "cv", "decisions/s"):
        t.add_column(col, justify="right")
    for e in latency:
        t.add_row(e["path"], e["device"], str(e["threads"]), e["mode"], str(e["batch"]), f"{e['p50_ms']:.4f}",
                  f"{e['p90_ms']:.4f}", f"{e['p99_ms']:.4f}", f"{e['timer_median_ms']:.4f}", f"{e['cv']:.3f}",
                  f"{e['throughput_decisions_per_s']:,.0f}")
    con.print(t)


COMMANDS = [profile_cmd]
