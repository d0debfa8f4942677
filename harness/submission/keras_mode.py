"""Which Keras a submission runs under: Keras 3 (``keras``) or Keras 2 (``tf_keras``).

TensorFlow 2.21 ships Keras 3; 2020 submissions were written for the Keras 2
of TensorFlow 2.3, and some of what they call no longer exists in Keras 3
(``variable.get_shape()``, ``K.function``, ``layer.output_shape``, ...).
``--keras`` picks the flavour (`KerasMode`):

``3``     Keras 3 for every model;
``2``     Keras 2 (``tf_keras``, with ``TF_USE_LEGACY_KERAS=1`` so that
          ``tf.keras`` is ``tf_keras`` too) for every model;
``auto``  (the default) Keras 2 when `detect_keras2` finds, by reading the
          submission's source (never running it), a call that only Keras 2
          answers and nothing written for Keras 3; else Keras 3, switching to
          Keras 2 (and re-running the model) the first time a model fails with
          an AttributeError raised by a Keras 3 object
          (`is_keras3_attribute_error`).

`KerasState` holds a run's current choice and why, as the run log and
``pgdl check`` report it. Nothing here imports TensorFlow: the choice is made
on the harness side, `is_keras3_attribute_error` runs inside the worker.

    >>> choice = choose_keras("auto", "my_measure/")        # doctest: +SKIP
    >>> choice.version, choice.reason                       # doctest: +SKIP
    ('2', 'auto: complexity.py:12 calls .get_shape(), which Keras 3 variables lack')
"""

from __future__ import annotations

import ast
import enum
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from harness.errors import ParameterError
from harness.submission.package import walk_files

LEGACY_KERAS_ENV = "TF_USE_LEGACY_KERAS"

# Names of keras.backend in Keras 2 that neither Keras 3's keras.backend nor its
# tf.keras.backend compatibility module has (checked against Keras 3.15).
_KERAS2_ONLY_BACKEND = frozenset({
    "function", "get_session", "set_session", "placeholder", "learning_phase", "set_learning_phase",
    "get_graph", "manual_variable_initialization", "print_tensor", "is_placeholder", "reset_uids",
    "track_variable", "symbolic", "eager_learning_phase_scope", "learning_phase_scope"})
# Methods Keras 3 removed from models and layers.
_KERAS2_ONLY_METHODS = {
    "get_shape": "Keras 3 variables lack",
    "fit_generator": "Keras 3 models lack",
    "predict_generator": "Keras 3 models lack",
    "evaluate_generator": "Keras 3 models lack",
}
# Attributes Keras 3 layers no longer have (models still have the first two).
_KERAS2_ONLY_LAYER_ATTRIBUTES = ("output_shape", "input_shape", "inbound_nodes", "outbound_nodes")
# Modules and names that only exist for (or only make sense with) Keras 3.
_KERAS3_MODULES = ("keras.ops", "keras.random", "keras.config", "keras.src", "keras.tree", "keras_core")
_KERAS3_NAMES = frozenset({"ops", "SeedGenerator", "Variable", "config", "tree"})
_BACKEND_MODULES = ("keras.backend", "tensorflow.keras.backend", "tf.keras.backend", "tf_keras.backend",
                    "tensorflow.python.keras.backend")


class KerasMode(str, enum.Enum):
    """The ``--keras`` choices."""

    KERAS2 = "2"
    KERAS3 = "3"
    AUTO = "auto"

    @classmethod
    def parse(cls, value: "str | KerasMode") -> "KerasMode":
        try:
            return cls(str(value.value if isinstance(value, KerasMode) else value))
        except ValueError:
            raise ParameterError("keras", "must be 2, 3 or auto", value) from None


@dataclass(frozen=True)
class Finding:
    """One place in the source that decides the flavour: ``file:line`` and what it does."""

    path: str
    line: int
    what: str
    keras: str  # "2" or "3": which Keras it needs

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.what}"


@dataclass(frozen=True)
class KerasChoice:
    """A Keras version (``"2"`` or ``"3"``) and the reason it was chosen, in words."""

    version: str
    reason: str

    def describe(self) -> str:
        return f"{self.version} ({self.reason})"


def detect_keras2(root: str | Path) -> list[Finding]:
    """Every use of a Keras-2-only or Keras-3-only API in the ``.py`` files under ``root``.

    Read with `ast` (comments and strings do not count; a file that does not
    parse is skipped). Keras-2-only: ``.get_shape()`` calls (Keras 3
    variables lack it; tensors have it under both, so running such code under
    Keras 2 is safe), ``fit_generator``/``predict_generator``/
    ``evaluate_generator``, backend functions Keras 3 dropped (``K.function``,
    ``K.get_session``, ``K.placeholder``, ``K.learning_phase``, ...), a
    layer's ``output_shape``/``input_shape``/``inbound_nodes`` (reached as
    ``model.layers[i]``, ``model.get_layer(...)`` or a loop over
    ``model.layers``), ``tensorflow.python.keras`` and ``tf_keras`` imports.
    Keras-3-only: ``keras.ops``, ``keras.random``, ``keras.config``,
    ``keras.Variable``, ``keras.src``, ``keras_core``.

        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "complexity.py").write_text("def complexity(m, d):\\n    return m.weights[0].get_shape()[0]\\n")
        >>> [str(f) for f in detect_keras2(d)]
        ['complexity.py:2 calls .get_shape(), which Keras 3 variables lack']
    """
    findings: list[Finding] = []
    sources = [(rel, path) for rel, path in walk_files(root, keep=lambda name: not name.startswith(".")
                                                        and name != "__pycache__") if rel.endswith(".py")]
    for rel, path in sorted(sources, key=lambda item: item[0].split("/")):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError, RecursionError):
            continue
        findings.extend(_Scanner(rel).scan(tree))
    return findings


def choose_keras(mode: str | KerasMode, root: str | Path) -> KerasChoice:
    """The Keras version a run starts with, for ``--keras mode`` and the submission at ``root``.

    ``auto`` picks Keras 2 when `detect_keras2` finds Keras-2-only uses and no
    Keras-3-only one, naming the first of them; otherwise Keras 3.
    """
    mode = KerasMode.parse(mode)
    if mode is KerasMode.KERAS2:
        return KerasChoice("2", "--keras 2")
    if mode is KerasMode.KERAS3:
        return KerasChoice("3", "--keras 3")
    findings = detect_keras2(root)
    keras2 = [f for f in findings if f.keras == "2"]
    keras3 = [f for f in findings if f.keras == "3"]
    if keras2 and keras3:
        return KerasChoice("3", f"auto: {keras3[0]} needs Keras 3 (although {keras2[0]})")
    if keras2:
        more = f" and {len(keras2) - 1} more" if len(keras2) > 1 else ""
        return KerasChoice("2", f"auto: {keras2[0]}{more}")
    return KerasChoice("3", "auto: no Keras-2-only API found")


def is_keras3_attribute_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is an AttributeError raised by a Keras 3 object or module.

    Such an error is what Keras-2 code meets in Keras 3 (``'Variable' object
    has no attribute 'get_shape'``, ``module 'keras.backend' has no attribute
    'get_value'``); an AttributeError of the submission's own objects is not.
    """
    for error in _chain(exc):
        if not isinstance(error, AttributeError):
            continue
        obj = getattr(error, "obj", None)
        module = obj.__name__ if isinstance(getattr(obj, "__name__", None), str) and \
            type(obj).__name__ == "module" else type(obj).__module__ if obj is not None else ""
        if module == "keras" or module.startswith(("keras.", "keras._")):
            return True
        if "module 'keras." in str(error) or "module 'keras'" in str(error):
            return True
    return False


class KerasState:
    """A run's current Keras version and why (thread-safe): `choose_keras`'s, then perhaps the fallback's."""

    def __init__(self, mode: str | KerasMode, choice: KerasChoice) -> None:
        self.mode = KerasMode.parse(mode)
        self._choice = choice
        self._fallback_tried = False
        self._lock = threading.Lock()

    @classmethod
    def for_submission(cls, mode: str | KerasMode, root: str | Path) -> "KerasState":
        return cls(mode, choose_keras(mode, root))

    @property
    def choice(self) -> KerasChoice:
        with self._lock:
            return self._choice

    def may_fall_back(self) -> bool:
        """Whether a Keras-3 AttributeError should switch the run to Keras 2 (``auto``, not tried yet)."""
        with self._lock:
            return self.mode is KerasMode.AUTO and self._choice.version == "3" and not self._fallback_tried

    def fall_back(self, because: str) -> KerasChoice:
        """Switch to Keras 2 ``because`` of an error (the first caller switches; later ones get its choice)."""
        with self._lock:
            if not self._fallback_tried and self._choice.version == "3":
                self._fallback_tried = True
                self._choice = KerasChoice("2", f"auto: re-run under tf_keras after {because}")
            return self._choice

    def give_up_fallback(self, previous: KerasChoice, because: str) -> None:
        """Back to ``previous`` (Keras 3): Keras 2 did not help either."""
        with self._lock:
            if self._choice.version == "2" and self._fallback_tried:
                self._choice = KerasChoice(previous.version, f"{previous.reason}; tf_keras failed too ({because})")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _dotted(node: ast.AST) -> str | None:
    """``"a.b.c"`` for a chain of attribute accesses on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Scanner(ast.NodeVisitor):
    """Collects `Finding`s from one file; tracks import aliases of Keras backends and loops over layers."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}  # local name -> dotted module or object it stands for
        self.layer_names: set[str] = set()

    def scan(self, tree: ast.AST) -> list[Finding]:
        self.visit(tree)
        return self.findings

    def add(self, node: ast.AST, what: str, keras: str) -> None:
        finding = Finding(self.path, getattr(node, "lineno", 0), what, keras)
        if finding not in self.findings:  # `from m import a, b` checks m once per name
            self.findings.append(finding)

    def resolve(self, node: ast.AST) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        head = self.aliases.get(head, head)
        if head == "tf":
            head = "tensorflow"
        return f"{head}.{rest}" if rest else head

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._imported(node, alias.name)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._imported(node, module)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            self._imported(node, full)
            self.aliases[alias.asname or alias.name] = full
            if module.endswith("backend") and alias.name in _KERAS2_ONLY_BACKEND:
                self.add(node, f"imports backend.{alias.name}, which Keras 3 dropped", "2")
        self.generic_visit(node)

    def _imported(self, node: ast.AST, module: str) -> None:
        if module.startswith("tensorflow.python.keras"):
            self.add(node, "imports tensorflow.python.keras (Keras 2)", "2")
        elif module == "tf_keras" or module.startswith("tf_keras."):
            self.add(node, "imports tf_keras (Keras 2)", "2")
        elif module.startswith(_KERAS3_MODULES) or module in ("keras.Variable", "keras.SeedGenerator"):
            self.add(node, f"imports {module} (Keras 3 only)", "3")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner = self.resolve(node.value)
        if owner is not None:
            if owner.endswith(_BACKEND_MODULES) or owner in _BACKEND_MODULES:
                if node.attr in _KERAS2_ONLY_BACKEND:
                    self.add(node, f"uses backend.{node.attr}, which Keras 3 dropped", "2")
            elif owner == "keras" and node.attr in _KERAS3_NAMES:
                self.add(node, f"uses keras.{node.attr} (Keras 3 only)", "3")
            elif owner.startswith("tensorflow.python.keras"):
                self.add(node, "uses tensorflow.python.keras (Keras 2)", "2")
        if node.attr in _KERAS2_ONLY_LAYER_ATTRIBUTES and self._is_layer(node.value):
            self.add(node, f"reads a layer's .{node.attr}, which Keras 3 layers lack", "2")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _KERAS2_ONLY_METHODS:
            self.add(node, f"calls .{func.attr}(), which {_KERAS2_ONLY_METHODS[func.attr]}", "2")
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        target, iterable = node.target, node.iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and \
                iterable.func.id in ("enumerate", "reversed") and iterable.args:
            iterable = iterable.args[0]
            if isinstance(target, ast.Tuple) and len(target.elts) == 2 and node.iter.func.id == "enumerate":
                target = target.elts[1]
        if isinstance(target, ast.Name) and self._is_layer_list(iterable):
            self.layer_names.add(target.id)
        self.generic_visit(node)

    def _is_layer_list(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Subscript):  # model.layers[1:]
            node = node.value
        return isinstance(node, ast.Attribute) and node.attr == "layers"

    def _is_layer(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.layer_names
        if isinstance(node, ast.Subscript):
            return self._is_layer_list(node.value) and not isinstance(node.slice, ast.Slice)
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get_layer"
