"""One line for an exception a submission raised: what it was, and the submission's line that raised it.

`describe_exception` runs inside the worker (no TensorFlow import needed).
TensorFlow rewraps errors raised inside a ``tf.function``: the exception's
message then starts with ``in user code:`` (tracing) or ``Graph execution
error:`` (running), followed by the frames of the user's code as text and
the original message; the Python traceback only shows TensorFlow's and
AutoGraph's generated files. Both are unwrapped here, so that the one line
names the original exception and the innermost line of the submission.

    >>> try:
    ...     raise ValueError("boom")
    ... except ValueError as exc:
    ...     describe_exception(exc, "/nowhere")
    'ValueError: boom'
"""

from __future__ import annotations

import os
import re
import traceback

_MAX_CHARS = 300
_FRAME = re.compile(r'^(?P<indent>\s*)File "(?P<path>[^"]+)", line (?P<line>\d+)')
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b.*?:")
_TF_WRAPPERS = ("in user code:", "Graph execution error:")


def describe_exception(exc: BaseException, program_dir: str) -> str:
    """``"ValueError: boom (complexity.py:12)"``: the exception and the submission's line that raised it.

    The line is the innermost frame inside ``program_dir`` (relative to it):
    from a ``tf.function`` error's message, a `SyntaxError`'s own file and line,
    else the traceback. At most 300 characters of message.
    """
    text = str(exc).strip()
    summary = f"{type(exc).__name__}: {_first_line(text)}".rstrip(": ")
    where = _traceback_location(exc, program_dir)
    if isinstance(exc, SyntaxError) and exc.filename:
        summary = f"{type(exc).__name__}: {exc.msg}"
        where = _relative(exc.filename, exc.lineno, program_dir) or where
    elif text.startswith(_TF_WRAPPERS):
        unwrapped = _unwrap_tf_message(text, program_dir)
        if unwrapped is not None:
            message, location = unwrapped
            summary = message if _EXCEPTION_LINE.match(message) else f"{type(exc).__name__}: {message}"
            where = location or where
    return summary[:_MAX_CHARS] + (f" ({where})" if where else "")


def _first_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0] if lines else ""


def _relative(path: str, line: int | None, program_dir: str) -> str | None:
    root = os.path.join(program_dir, "")
    if not path.startswith(root):
        return None
    return f"{os.path.relpath(path, program_dir)}:{line}" if line else os.path.relpath(path, program_dir)


def _traceback_location(exc: BaseException, program_dir: str) -> str | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        where = _relative(frame.filename, frame.lineno, program_dir)
        if where is not None:
            return where
    return None


def _unwrap_tf_message(text: str, program_dir: str) -> tuple[str, str | None] | None:
    """``(original message, innermost submission line)`` of a TensorFlow-wrapped error, or None.

    The original message is the first line after the last frame that is
    neither blank nor indented deeper than that frame (the frame's source line).
    """
    lines = text.splitlines()
    frames = [(i, m) for i, line in enumerate(lines) if (m := _FRAME.match(line))]
    if not frames:
        return None
    last, match = frames[-1]
    indent = len(match.group("indent"))
    message = None
    for line in lines[last + 1:]:
        stripped = line.strip()
        if not stripped or len(line) - len(line.lstrip()) > indent:
            continue
        message = stripped
        break
    if message is None:
        return None
    location = None
    for _, m in reversed(frames):
        location = _relative(m.group("path"), int(m.group("line")), program_dir)
        if location is not None:
            break
    return message, location
