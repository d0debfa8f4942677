"""The worker protocol: the messages the harness and a worker exchange, one JSON object per line.

Both ends use these classes: the harness sends `Init` and `Run`; the worker
answers `Hello` (TensorFlow imported), then `Ready` or `ImportFailed`, then a
`Result` per `Run`. Each message is a frozen dataclass whose fields are checked
when it is built, so that a message that decodes is one the code can use.

Whatever arrives on the worker's pipe is untrusted (a submission runs in that
process and may write anything there): `decode` turns any malformed line
(not UTF-8, not JSON, nested too deep, a number too long, an unknown ``op``, a
missing, unknown or mistyped field) into a `ProtocolError` with a one-line
reason, never another exception. Lines are bounded by `MAX_LINE` bytes.

A new field is a dataclass field (with a default, if older senders omit it)
plus its entry in ``KINDS`` naming its check (`_KINDS`); both ends always
come from the same installation, so unknown fields are refused.

    >>> decode(encode(Hello(seconds=2.5)))
    Hello(seconds=2.5)
    >>> try:
    ...     decode(b'{"op": "hello", "seconds": "soon"}')
    ... except ProtocolError as exc:
    ...     print(exc)
    hello: field 'seconds' must be a number, got a str
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Union

MAX_LINE = 1 << 20
MAX_TEXT = 10_000


class ProtocolError(ValueError):
    """A line that is not a valid message; ``str()`` says why, in one line."""


class Status(str, enum.Enum):
    """What the worker says of one model's ``complexity`` call."""

    OK = "ok"
    ERROR = "error"
    INVALID = "invalid"


# --- field kinds: each checks a decoded JSON value, returning it or raising ProtocolError -----


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("a string")
    if len(value) > MAX_TEXT:
        raise TypeError(f"a string of at most {MAX_TEXT} characters")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an integer")
    if not -(1 << 63) <= value < 1 << 63:
        raise TypeError("a 64-bit integer")
    return value


def _seconds(value: Any) -> float:
    number = _number(value)
    if not (math.isfinite(number) and number >= 0):
        raise TypeError("a finite number of seconds (0 or more)")
    return number


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("a number")
    try:
        return float(value)
    except OverflowError:
        raise TypeError("a number that fits a float") from None


def _optional_seconds(value: Any) -> float | None:
    return None if value is None else _seconds(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _names(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError("an object of strings")
    return dict(value)


def _status(value: Any) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise TypeError(f"one of {', '.join(s.value for s in Status)}") from None


def _value(value: Any) -> float | int | None:
    """A result's value is checked by the runner (an unusable number is ``invalid``, not a protocol error)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise TypeError("a number or null")
    return value


def _seeding(value: Any) -> str:
    if value not in SEEDINGS:
        raise TypeError(f"one of {', '.join(SEEDINGS)}")
    return value


#: How a worker seeds before each model: every generator (``model``) or none, as the 2020 kit (``kit``).
SEEDINGS = ("model", "kit")

_KINDS = {"text": _text, "integer": _integer, "seconds": _seconds, "optional_seconds": _optional_seconds,
          "flag": _flag, "names": _names, "status": _status, "value": _value, "seeding": _seeding}


def _article(value: Any) -> str:
    name = {dict: "object", list: "array", type(None): "null"}.get(type(value), type(value).__name__)
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


class Message:
    """Base of the messages: ``OP`` names it on the wire, ``KINDS`` maps each field to its check."""

    OP: ClassVar[str]
    KINDS: ClassVar[dict[str, str]]

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            try:
                checked = _KINDS[self.KINDS[f.name]](value)
            except TypeError as exc:
                raise ProtocolError(f"{self.OP}: field {f.name!r} must be {exc}, got {_article(value)}") from None
            object.__setattr__(self, f.name, checked)

    def to_dict(self) -> dict[str, Any]:
        body = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        return {"op": self.OP, **{k: v.value if isinstance(v, enum.Enum) else v for k, v in body.items()}}


@dataclass(frozen=True)
class Init(Message):
    """Harness → worker, first: where the submission and the tasks' input sides are, threads, Keras flavour."""

    OP: ClassVar[str] = "init"
    KINDS: ClassVar[dict[str, str]] = {"submission_dir": "text", "tasks": "names", "threads": "integer",
                                       "keras2": "flag", "seeding": "seeding"}
    submission_dir: str
    tasks: dict[str, str]
    threads: int
    keras2: bool = False
    seeding: str = "model"


@dataclass(frozen=True)
class Hello(Message):
    """Worker → harness: TensorFlow is imported (after ``seconds``)."""

    OP: ClassVar[str] = "hello"
    KINDS: ClassVar[dict[str, str]] = {"seconds": "seconds"}
    seconds: float


@dataclass(frozen=True)
class Ready(Message):
    """Worker → harness: the submission is imported; ``plan`` describes how it will be called."""

    OP: ClassVar[str] = "ready"
    KINDS: ClassVar[dict[str, str]] = {"seconds": "seconds", "plan": "text"}
    seconds: float
    plan: str


@dataclass(frozen=True)
class ImportFailed(Message):
    """Worker → harness: the submission could not be imported (the worker exits)."""

    OP: ClassVar[str] = "import_error"
    KINDS: ClassVar[dict[str, str]] = {"message": "text", "keras3_attribute_error": "flag"}
    message: str
    keras3_attribute_error: bool = False


@dataclass(frozen=True)
class Run(Message):
    """Harness → worker: evaluate one model."""

    OP: ClassVar[str] = "run"
    KINDS: ClassVar[dict[str, str]] = {"job": "text", "task": "text", "model": "text", "seed": "integer",
                                       "time_budget": "seconds"}
    job: str
    task: str
    model: str
    seed: int
    time_budget: float


@dataclass(frozen=True)
class Result(Message):
    """Worker → harness: one model's outcome (``value`` is checked by the runner)."""

    OP: ClassVar[str] = "result"
    KINDS: ClassVar[dict[str, str]] = {"job": "text", "status": "status", "value": "value", "message": "text",
                                       "load_seconds": "optional_seconds", "measure_seconds": "optional_seconds",
                                       "keras3_attribute_error": "flag"}
    job: str
    status: Status
    value: Union[float, int, None] = None
    message: str = ""
    load_seconds: float | None = None
    measure_seconds: float | None = None
    keras3_attribute_error: bool = False


MESSAGES: dict[str, type[Message]] = {cls.OP: cls for cls in (Init, Hello, Ready, ImportFailed, Run, Result)}


def encode(message: Message) -> bytes:
    """One line of JSON (ending in a newline), NaN and infinities refused."""
    return (json.dumps(message.to_dict(), allow_nan=False) + "\n").encode()


def decode(line: bytes) -> Message:
    """The message in ``line`` (without its newline); `ProtocolError` for anything else."""
    if len(line) > MAX_LINE:
        raise ProtocolError(f"a line of more than {MAX_LINE} bytes")
    try:
        raw = json.loads(line.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ProtocolError("a line that is not UTF-8") from None
    except ProtocolError:
        raise
    except RecursionError:
        raise ProtocolError("JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        raise ProtocolError(f"not JSON ({str(exc).splitlines()[0][:100]})") from None
    if not isinstance(raw, dict):
        raise ProtocolError(f"{_article(raw)} instead of a message object")
    op = raw.pop("op", None)
    cls = MESSAGES.get(op) if isinstance(op, str) else None
    if cls is None:
        raise ProtocolError(f"an unknown message kind ({op[:40]!r})" if isinstance(op, str)
                            else f"a message without an 'op' string")
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ProtocolError(f"{op}: unknown field {unknown[0][:40]!r}")
    try:
        return cls(**raw)
    except TypeError as exc:  # a required field is missing
        raise ProtocolError(f"{op}: {str(exc).partition(' ')[2][:100]}") from None


def _refuse_constant(name: str) -> float:
    raise ProtocolError(f"the non-JSON constant {name}")
