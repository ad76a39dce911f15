"""Click commands, one module per command group; cli.py assembles them."""
