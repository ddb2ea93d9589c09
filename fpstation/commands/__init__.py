"""CLI sub-commands; see fpstation/cli.py for the contract."""
