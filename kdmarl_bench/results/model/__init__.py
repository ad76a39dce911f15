"""The data model: the typed ``Record``/``Leaderboard`` dataclasses, their JSON codec and schema,
and ``verify``'s findings. Imports nothing else of ``results``."""
