"""Lazy export layers: a package names its public API without importing it until a name is used.

    >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {"load_model": "harness.io.models"})  # doctest: +SKIP

`harness` and `harness.io` use it so that ``import harness`` (or
``import harness.io.hdf5``) never imports TensorFlow: the module that defines
a name is imported on its first use, and the name is then cached in the
package's namespace.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]],
                                                                   list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``: each name of ``where`` is read from its module.

    ``where`` maps a public name to the dotted name of the module defining it.
    """
    names = sorted(where)

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, names
