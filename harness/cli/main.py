"""The ``pgdl`` command line: a thin layer over the Python API.

Each command parses its options, calls one library function and prints the
result; `harness.cli.errors` turns what goes wrong into one line and an exit
status. The commands live in `harness.cli.run_commands`,
`harness.cli.score_commands` and `harness.cli.zoo_commands`; their shared
options in `harness.cli.options`.
"""

from __future__ import annotations

import sys

import click

from harness import __version__
from harness.cli import run_commands, score_commands, zoo_commands
from harness.cli.errors import EXIT_ERROR, EXIT_FLAGGED, exit_status

#: The commands in the order a user meets them (`pgdl --help` lists them so).
COMMAND_ORDER = ("init", "check", "score", "predict", "evaluate", "leaderboard", "pack", "official", "zoo")
#: Where each command is defined.
COMMANDS = (run_commands.init, run_commands.check, score_commands.score, run_commands.predict,
            score_commands.evaluate, score_commands.leaderboard, run_commands.pack, score_commands.official,
            zoo_commands.zoo)

__all__ = ["COMMAND_ORDER", "EXIT_ERROR", "EXIT_FLAGGED", "cli", "main"]


class _Ordered(click.Group):
    """A group that lists its commands in `COMMAND_ORDER` (others after them, by name)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return [n for n in COMMAND_ORDER if n in names] + sorted(n for n in names if n not in COMMAND_ORDER)


@click.group(cls=_Ordered, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit status: 0 when everything was scored; 1 when scores were written but a task was "
                    "flagged (its official score counts 0, e.g. a model failed); 2 when nothing was written "
                    "(bad input or an error, shown in one line).")
@click.version_option(__version__, prog_name="pgdl")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Predicting Generalization in Deep Learning: run and score complexity measures.

    \b
    Start here:
      pgdl init my_measure                  # a template submission
      pgdl check my_measure                 # import it in the sandbox, run it on one model
      pgdl score my_measure --task animal_mnist_mlp --limit 8   # a quick look
      pgdl score my_measure                 # every task of the shipped zoo
    """
    ctx.ensure_object(dict)["debug"] = debug  # read by `main` once the command is over


for _command in COMMANDS:
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pgdl`` console script.

    Exit status: 0 done; 1 scores written with a flagged task (or a failed
    check); 2 nothing written: bad input or an error, in one line
    (``--debug``, before the command, shows the traceback instead); 130
    interrupted. `harness.cli.errors.exit_status` maps each kind of error.
    """
    obj: dict[str, bool] = {}  # the group's callback records --debug here, as click parsed it
    try:
        cli.main(args=sys.argv[1:] if argv is None else argv, prog_name="pgdl", standalone_mode=False, obj=obj)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - each kind is mapped, or re-raised
        sys.exit(exit_status(exc, debug=obj.get("debug", False)))
