"""Storage: the per-cell store of a run, leaderboard files (read, migrate, validate, write) and the
provenance stamped on them."""
