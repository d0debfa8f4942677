"""How the CLI shows what went wrong: one mapping from exception kinds to a message and an exit status.

Errors the user can fix (`HarnessError`, its `ParameterError` shown under the
option's name, and any OSError, ValueError or RecursionError that gets this
far) are one line, ``error: ...``, exit status 2; ``pgdl --debug ...`` shows the
traceback instead. Anything else is a bug: its traceback is shown.
"""

from __future__ import annotations

from typing import Callable

import click

from harness.cli.options import option_name
from harness.errors import HarnessError, ParameterError, one_line
from harness.run.runner import SubmissionImportError

#: Exit statuses: scores written, with at least one flagged task; nothing written (bad input, an error).
EXIT_FLAGGED, EXIT_ERROR = 1, 2
#: Interrupted (Ctrl-C) or aborted at a prompt.
EXIT_INTERRUPTED = 130


def message(exc: BaseException) -> str:
    """The message of ``exc`` in one line: a parameter under its option's name, an OS error with its
    file, anything else prefixed with its type when that says more than the message."""
    if isinstance(exc, ParameterError):
        return exc.shown_as(option_name(exc.param))
    if isinstance(exc, SubmissionImportError) and exc.raise_param:
        return one_line(exc.shown_as(option_name(exc.raise_param)))
    if isinstance(exc, HarnessError):
        return one_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where else exc.strerror
    if isinstance(exc, RecursionError):
        return "input nested too deeply to process (RecursionError)"
    return f"{type(exc).__name__}: {one_line(exc)}"


def _click_error(exc: BaseException) -> int:
    exc.show()  # type: ignore[attr-defined]
    return EXIT_ERROR


def _one_line_error(exc: BaseException) -> int:
    click.echo(f"error: {message(exc)}", err=True)
    return EXIT_ERROR


def _said(text: str) -> Callable[[BaseException], int]:
    def say(exc: BaseException) -> int:
        click.echo(text, err=True)
        return EXIT_INTERRUPTED
    return say


#: Errors the user can fix, in one line (``--debug`` shows their traceback instead).
DEBUGGED_KINDS = (HarnessError, OSError, ValueError, RecursionError)
#: Each kind of error, in the order they are tried: what the user is told, and the exit status.
HANDLERS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Callable[[BaseException], int]], ...] = (
    (click.exceptions.Abort, _said("aborted")),
    (click.ClickException, _click_error),
    (KeyboardInterrupt, _said("interrupted")),
    (DEBUGGED_KINDS, _one_line_error),
)


def exit_status(exc: BaseException, *, debug: bool = False) -> int:
    """Tell the user about ``exc`` (`HANDLERS`) and return the exit status; re-raise what no handler
    takes, and, with ``debug``, the `DEBUGGED_KINDS`."""
    if debug and isinstance(exc, DEBUGGED_KINDS):
        raise exc
    for kinds, handle in HANDLERS:
        if isinstance(exc, kinds):
            return handle(exc)
    raise exc
