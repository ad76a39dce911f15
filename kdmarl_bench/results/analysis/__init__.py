"""Analysis: statistics, the gate's noise model, a board's summaries and aggregates, compare, the
headline and learning-curve data. Pure functions over the data model; no output."""
