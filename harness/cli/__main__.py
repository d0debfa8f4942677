"""``python -m harness.cli``: the ``pgdl`` command."""

from harness.cli.main import main

main()
