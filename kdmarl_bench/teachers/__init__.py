"""Stage 1: centralized MAPPO teachers and the bundled zoo."""
