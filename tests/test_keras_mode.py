"""`harness.submission.keras_mode`: which Keras a submission runs under, decided from its source or its errors."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.submission.keras_mode import KerasChoice, KerasState, choose_keras, detect_keras2, is_keras3_attribute_error
from tests.helpers import write_submission


def findings(tmp_path, code: str) -> list[str]:
    return [f"{f.keras} {f}" for f in detect_keras2(write_submission(tmp_path / "sub", code))]


@pytest.mark.parametrize("code, expected", [
    ("def complexity(model, ds):\n    return model.weights[0].get_shape()[0]\n",
     "2 complexity.py:2 calls .get_shape(), which Keras 3 variables lack"),
    ("from tensorflow.keras import backend as K\nf = K.function([], [])\n",
     "2 complexity.py:2 uses backend.function, which Keras 3 dropped"),
    ("import tensorflow as tf\nphase = tf.keras.backend.learning_phase()\n",
     "2 complexity.py:2 uses backend.learning_phase, which Keras 3 dropped"),
    ("from keras.backend import get_session\n",
     "2 complexity.py:1 imports backend.get_session, which Keras 3 dropped"),
    ("def f(model):\n    for i, layer in enumerate(model.layers):\n        print(layer.output_shape)\n",
     "2 complexity.py:3 reads a layer's .output_shape, which Keras 3 layers lack"),
    ("def f(model):\n    return model.layers[0].input_shape\n",
     "2 complexity.py:2 reads a layer's .input_shape, which Keras 3 layers lack"),
    ("from tensorflow.python.keras import layers\n", "2 complexity.py:1 imports tensorflow.python.keras (Keras 2)"),
    ("import keras\nx = keras.ops.sum([1])\n", "3 complexity.py:2 uses keras.ops (Keras 3 only)"),
    ("from keras import ops\n", "3 complexity.py:1 imports keras.ops (Keras 3 only)"),
])
def test_each_version_specific_api_is_found_with_its_line(tmp_path, code, expected):
    assert findings(tmp_path, code) == [expected]


@pytest.mark.parametrize("code", [
    "# v.get_shape() in a comment\ns = 'K.function in a string'\n",
    "def f(model):\n    return model.output_shape, model.weights[0].shape\n",  # models keep output_shape
    "import tensorflow as tf\nK = tf.keras.backend\nv = K.get_value(tf.constant(1.0))\n",  # in Keras 3's tf.keras
    "def f(:\n    pass\n",  # does not parse: nothing to say
])
def test_code_that_runs_under_keras_3_gives_no_finding(tmp_path, code):
    assert findings(tmp_path, code) == []


def test_auto_picks_keras_2_for_keras_2_code_and_names_the_first_use(tmp_path):
    sub = write_submission(tmp_path / "sub", "def complexity(m, d):\n    a = m.weights[0].get_shape()\n"
                                             "    b = m.weights[1].get_shape()\n    return 1.0\n")
    assert choose_keras("auto", sub) == KerasChoice(
        "2", "auto: complexity.py:2 calls .get_shape(), which Keras 3 variables lack and 1 more")


def test_auto_keeps_keras_3_when_the_code_also_needs_keras_3(tmp_path):
    sub = write_submission(tmp_path / "sub", "from keras import ops\n\n\ndef complexity(m, d):\n"
                                             "    return float(ops.sum(m.weights[0].get_shape()))\n")
    assert choose_keras("auto", sub).version == "3"


def test_helper_modules_of_the_submission_are_read_too(tmp_path):
    sub = write_submission(tmp_path / "sub", "from helpers import size\n\n\ndef complexity(m, d):\n"
                                             "    return size(m)\n")
    (sub / "helpers.py").write_text("def size(m):\n    return m.weights[0].get_shape()[0]\n")
    assert choose_keras("auto", sub).reason.startswith("auto: helpers.py:2 calls .get_shape()")


def test_explicit_modes_are_kept_and_bad_ones_refused(tmp_path):
    sub = write_submission(tmp_path / "sub")
    assert choose_keras("2", sub) == KerasChoice("2", "--keras 2")
    assert choose_keras("3", sub) == KerasChoice("3", "--keras 3")
    with pytest.raises(HarnessError, match="keras must be 2, 3 or auto. Received: keras='4'"):
        choose_keras("4", sub)


def test_an_attribute_error_of_a_keras_3_object_calls_for_keras_2():
    keras = pytest.importorskip("keras")
    variable = keras.Variable([1.0])
    with pytest.raises(AttributeError) as caught:
        variable.get_shape()
    assert is_keras3_attribute_error(caught.value)
    with pytest.raises(AttributeError) as caught:
        keras.backend.get_value(variable)
    assert is_keras3_attribute_error(caught.value)


def test_an_attribute_error_of_the_submissions_own_objects_does_not():
    class Mine:
        pass

    with pytest.raises(AttributeError) as caught:
        Mine().get_shape()
    assert not is_keras3_attribute_error(caught.value)
    assert not is_keras3_attribute_error(ValueError("module 'keras.backend' has no attribute 'x'"))


def test_the_fallback_switches_once_and_can_be_given_up():
    state = KerasState("auto", KerasChoice("3", "auto: no Keras-2-only API found"))
    assert state.may_fall_back()
    switched = state.fall_back("AttributeError: x (complexity.py:3)")
    assert switched == KerasChoice("2", "auto: re-run under tf_keras after AttributeError: x (complexity.py:3)")
    assert not state.may_fall_back() and state.fall_back("again") == switched
    state.give_up_fallback(KerasChoice("3", "auto: no Keras-2-only API found"), "ValueError: y")
    assert state.choice.version == "3" and "tf_keras failed too (ValueError: y)" in state.choice.reason
    assert not state.may_fall_back()
    assert not KerasState("3", KerasChoice("3", "--keras 3")).may_fall_back()


def test_keras2_is_an_alias_of_keras_2_and_a_contradiction_is_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from harness.cli.options import keras_version

    assert keras_version("auto", True) == "2" and keras_version("3", False) == "3"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "predict", str(write_submission(tmp_path / "s")),
                           "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--keras", "3", "--keras2"],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == "error: --keras2 means --keras 2, which contradicts --keras 3\n"
