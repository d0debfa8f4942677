"""The ``pgdl`` command line (`harness.cli.main`): a thin layer over the Python API."""

from harness.cli.main import COMMAND_ORDER, EXIT_ERROR, EXIT_FLAGGED, cli, main

__all__ = ["COMMAND_ORDER", "EXIT_ERROR", "EXIT_FLAGGED", "cli", "main"]
