"""The public API: `harness` and each subpackage's export layer name what they export, and stay TensorFlow-free."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import harness

PACKAGES = ["harness", "harness.task", "harness.io", "harness.submission", "harness.sandbox", "harness.run",
            "harness.cli"]


@pytest.mark.parametrize("name", harness.__all__)
def test_every_name_of_the_public_api_resolves(name):
    value = getattr(harness, name)
    assert getattr(value, "__name__", name) == name


def test_the_public_api_is_listed_by_dir():
    assert set(harness.__all__) <= set(dir(harness))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        harness.no_such_thing


@pytest.mark.parametrize("package", PACKAGES[1:])
def test_every_name_a_subpackage_exports_resolves(package):
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "harness.io"] + ["harness.io.hdf5"])
def test_importing_imports_no_tensorflow(package):
    code = (f"import sys, {package}\n"
            "assert not {'tensorflow', 'keras', 'tf_keras'} & set(sys.modules), sorted(sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_io_export_layer_imports_no_tensorflow_until_a_name_is_used():
    code = ("import sys, harness.io as io\n"
            "assert 'tensorflow' not in sys.modules\n"
            "io.read_split\n"
            "assert 'tensorflow' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
