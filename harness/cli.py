"""The ``pgdl`` command line: a thin layer over the Python API.

Each command parses its options, calls one library function and prints the
result. Errors the user can fix are raised as `HarnessError` and shown as one
line (exit status 2); ``pgdl --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import click

from harness import __version__
from harness.errors import HarnessError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pgdl")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Predicting Generalization in Deep Learning: run and score complexity measures."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# --- commands are registered below, one section per concern -----------------


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pgdl`` console script."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="pgdl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except HarnessError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
