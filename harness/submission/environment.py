"""What a submission can import inside the sandbox, as `pgdl check` and the README list it.

The packages 2020 submissions imported (all installed with the harness) and
the starting kit's helper modules (`harness.kit_compat`), under the names
submissions used. Versions are read from the installed distributions'
metadata, without importing anything.

    >>> [name for name, _ in submission_packages()][:3]
    ['numpy', 'scipy', 'scikit-learn']
"""

from __future__ import annotations

from importlib import metadata

#: Distribution names, in the order they are listed.
PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "tqdm", "tensorflow", "keras", "tf_keras",
            "h5py")
#: The 2020 kit's modules, importable by these bare names (`harness.kit_compat`).
KIT_MODULES = ("model_utils", "data_manager", "data_io")


def submission_packages() -> list[tuple[str, str]]:
    """``(distribution, version)`` of each of `PACKAGES`; ``"missing"`` for one not installed."""
    found = []
    for name in PACKAGES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            found.append((name, "missing"))
    return found


def describe_environment() -> str:
    """One line: ``numpy 2.4.6, scipy 1.17.1, ...; kit modules model_utils, data_manager, data_io``."""
    packages = ", ".join(f"{name} {version}" for name, version in submission_packages())
    return f"{packages}; matplotlib backend Agg; kit modules {', '.join(KIT_MODULES)}"
