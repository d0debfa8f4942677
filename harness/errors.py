"""The one exception type the CLI turns into a one-line message."""


class HarnessError(Exception):
    """A problem with the user's input, explained in one line.

    The message names the file (or option) and the problem. The CLI prints it
    as ``error: <message>`` and exits with status 2; tracebacks are shown only
    with ``--debug``.
    """
