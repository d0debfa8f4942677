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


class ParameterError(HarnessError):
    """A bad value of a named parameter of the Python API.

    The message names the parameter as the API spells it (``limit must be at
    least 2 ... Received: limit=1``); the CLI shows it under its option's
    name instead (`shown_as`).
    """

    def __init__(self, param: str, problem: str, received: object) -> None:
        self.param, self.problem, self.received = param, problem, received
        super().__init__(f"{param} {problem}. Received: {param}={received!r}")

    def shown_as(self, name: str) -> str:
        """The message with ``name`` (a command-line option, say) in place of the parameter."""
        received = self.received
        if isinstance(received, (tuple, list)):
            received = " ".join(map(str, received))
        return f"{name} {self.problem}. Received: {name} {received}"
