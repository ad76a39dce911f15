"""Results: per-cell store, statistics, the JSON leaderboard, rendering, compare and gate."""

from kdmarl_bench.results.store import ResultStore, cell_key

__all__ = ["ResultStore", "cell_key"]
