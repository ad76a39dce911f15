"""The gate: a board judged against a baseline board, check by check (output lives in ``render``)."""
