"""The Keras 2 ``save_weights`` HDF5 layout (SPEC §1), read and written with h5py.

Layout, as Keras 2.4 wrote it (``keras/saving/hdf5_format.py``)::

    /                      attrs: layer_names  (array of bytes, one per layer, in order)
                                  backend      (str, "tensorflow")
                                  keras_version (str)
    /<layer name>/         attrs: weight_names (array of bytes, e.g. b"dense/kernel:0")
    /<layer name>/<weight name>   one dataset per weight

Layers without weights (Flatten, Dropout, ...) appear in ``layer_names`` with an
empty ``weight_names``. An attribute too large for an HDF5 object header is
split into ``<name>0``, ``<name>1``, ... (read and written here the same way).
Files saved with the whole model (``model.save("x.h5")``) keep the same layout
under a ``model_weights`` group; it is read from there.

This module knows nothing of Keras: it moves named numpy arrays. Matching them
to a model's layers is `harness.io`'s job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from harness.errors import HarnessError, one_line

# Keras 2's HDF5_OBJECT_HEADER_LIMIT: attributes above it are split into chunks.
_HEADER_LIMIT = 64512


@dataclass(frozen=True)
class LayerWeights:
    """One layer's entry in a weights file: its name, weight names and values."""

    name: str
    weight_names: list[str]
    values: list[np.ndarray]


def read_weights_hdf5(path: str | Path) -> list[LayerWeights]:
    """Every layer of a Keras 2 weights file, in file order (weightless layers included).

    Raises `HarnessError` naming the file when it is missing, truncated, not
    HDF5, or not in the Keras 2 layout.
    """
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            if not _has_name_list(root, "layer_names"):
                raise HarnessError(f"{path}: no 'layer_names' attribute "
                                   "(not a Keras 2 save_weights HDF5 file)")
            return [_read_layer(path, root, name) for name in _read_name_list(root, "layer_names")]
    except HarnessError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise HarnessError(f"{path}: unreadable HDF5 weights file ({one_line(exc)})") from None


def write_weights_hdf5(path: str | Path, layers: Sequence[LayerWeights], *,
                       keras_version: str, backend: str = "tensorflow") -> None:
    """Write ``layers`` in the Keras 2 layout (atomically: a temporary file, then a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with _create_file(tmp) as f:
        _write_name_list(f, "layer_names", [layer.name for layer in layers])
        f.attrs["backend"] = backend
        f.attrs["keras_version"] = keras_version
        for layer in layers:
            group = _subgroup(f, layer.name)
            _write_name_list(group, "weight_names", layer.weight_names)
            for name, value in zip(layer.weight_names, layer.values, strict=True):
                *parents, leaf = name.split("/")
                holder = group
                for part in parents:
                    holder = _subgroup(holder, part)
                holder.create_dataset(leaf, data=np.asarray(value), track_times=False)
    os.replace(tmp, path)


def _create_file(path: Path) -> h5py.File:
    """A new HDF5 file in the 1.10 object format, recording no times.

    That format is about half the size of the 1.8 default for these small
    files, and every h5py since 2.8 (Keras 2.4's included) reads it; without
    creation and modification times in its object headers, the same weights
    give the same bytes (a rebuilt zoo is identical to the file).
    """
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_LATEST)
    return h5py.File(h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl))


def _subgroup(parent: h5py.Group, name: str) -> h5py.Group:
    """``parent[name]``, created (recording no times) when absent."""
    if name in parent:
        return parent[name]
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl))


def _read_layer(path: Path, root: h5py.Group, name: str) -> LayerWeights:
    if name not in root:
        raise HarnessError(f"{path}: layer {name!r} is listed in layer_names but has no group")
    group = root[name]
    weight_names = _read_name_list(group, "weight_names")
    values = []
    for weight_name in weight_names:
        if weight_name not in group:
            raise HarnessError(f"{path}: weight {weight_name!r} of layer {name!r} is missing")
        values.append(np.asarray(group[weight_name]))
    return LayerWeights(name, weight_names, values)


def _has_name_list(group: h5py.Group, name: str) -> bool:
    return name in group.attrs or f"{name}0" in group.attrs


def _read_name_list(group: h5py.Group, name: str) -> list[str]:
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks, i = [], 0
        while f"{name}{i}" in group.attrs:
            chunks.append(group.attrs[f"{name}{i}"])
            i += 1
    return [n.decode("utf8") if isinstance(n, bytes) else str(n)
            for chunk in chunks for n in np.atleast_1d(chunk)]


def _write_name_list(group: h5py.Group, name: str, names: Sequence[str]) -> None:
    data = np.asarray([n.encode("utf8") for n in names])
    n_chunks = 1
    while any(chunk.nbytes > _HEADER_LIMIT for chunk in np.array_split(data, n_chunks)):
        n_chunks += 1
    if n_chunks == 1:
        group.attrs[name] = data
    else:
        for i, chunk in enumerate(np.array_split(data, n_chunks)):
            group.attrs[f"{name}{i}"] = chunk
