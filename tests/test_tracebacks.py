"""`harness.sandbox.tracebacks.describe_exception`: one line naming the original exception and the submission's line."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.helpers import write_submission
from harness.sandbox.tracebacks import describe_exception

AUGMENT = '''import tensorflow as tf


def helper(x):
    return tf.reshape(x, [7, 5])


@tf.function
def traced(x):
    return helper(x * 2)


@tf.function
def raises(x):
    raise ValueError("custom boom")


@tf.function
def gathers(x, i):
    return tf.gather(x, i)
'''


@pytest.fixture(scope="module")
def augment(tmp_path_factory):
    """A submission module with tf.functions that fail while tracing and while running."""
    folder = write_submission(tmp_path_factory.mktemp("sub"))
    (folder / "augment.py").write_text(AUGMENT)
    spec = importlib.util.spec_from_file_location("pgdl_test_augment", folder / "augment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, str(folder)


def caught(function, *args) -> BaseException:
    try:
        function(*args)
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("no exception")


def test_an_error_while_tracing_a_tf_function_names_the_original_and_the_innermost_line(augment):
    module, folder = augment
    tf = sys.modules["tensorflow"]
    exc = caught(module.traced, tf.ones([3]))
    assert str(exc).startswith("in user code:")
    line = describe_exception(exc, folder)
    assert line.startswith("ValueError: Cannot reshape a tensor with 3 elements to shape [7,5]")
    assert line.endswith(" (augment.py:5)")


def test_an_exception_raised_by_the_user_inside_a_tf_function_keeps_its_message(augment):
    module, folder = augment
    exc = caught(module.raises, sys.modules["tensorflow"].ones([3]))
    assert describe_exception(exc, folder) == "ValueError: custom boom (augment.py:15)"


def test_an_error_while_running_a_tf_function_names_the_op_error_and_the_line(augment):
    module, folder = augment
    tf = sys.modules["tensorflow"]
    exc = caught(module.gathers, tf.ones([3]), tf.constant(10))
    assert str(exc).startswith("Graph execution error:")
    assert describe_exception(exc, folder) == "InvalidArgumentError: indices = 10 is not in [0, 3) (augment.py:20)"


def test_a_syntax_error_names_its_file_and_line(tmp_path):
    folder = write_submission(tmp_path / "sub", "def complexity(model, dataset)\n    return 0.0\n")
    exc = caught(compile, (folder / "complexity.py").read_text(), str(folder / "complexity.py"), "exec")
    assert describe_exception(exc, str(folder)) == "SyntaxError: expected ':' (complexity.py:1)"


def test_a_plain_exception_names_the_innermost_submission_frame(tmp_path):
    folder = write_submission(tmp_path / "sub", "def complexity(model, dataset):\n    return {}['w']\n")
    namespace: dict = {}
    exec(compile((folder / "complexity.py").read_text(), str(folder / "complexity.py"), "exec"), namespace)
    exc = caught(namespace["complexity"], None, None)
    assert describe_exception(exc, str(folder)) == "KeyError: 'w' (complexity.py:2)"
    assert describe_exception(exc, str(tmp_path / "elsewhere")) == "KeyError: 'w'"
