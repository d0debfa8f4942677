"""The one exception type the CLI turns into a one-line message."""


class HarnessError(Exception):
    """A problem with the user's input, explained in one line.

    The message names the file (or option) and the problem. The CLI prints it
    as ``error: <message>`` and exits with status 2; tracebacks are shown only
    with ``--debug``.
    """


def one_line(exc: BaseException | str) -> str:
    """The first line of an exception's message (for one-line `HarnessError` messages)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
