"""Datasets for the optimizer-comparison examples, read from local files only (never downloaded).

Both loaders return ``(x_train, t_train, x_test, t_test)``: C-contiguous images in the requested
float dtype, one sample per row, and int64 class labels.

* :func:`load_digits`: scikit-learn's bundled 8×8 digits (1,797 images; installed with
  scikit-learn, so no network), split with a fixed seed.
* :func:`load_mnist`: the four MNIST IDX files, plain or gzipped, from a directory you supply.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

Split = tuple[
    NDArray[np.floating[Any]], NDArray[np.int64], NDArray[np.floating[Any]], NDArray[np.int64]
]

_SKLEARN_HINT = (
    'load_digits needs scikit-learn: pip install "optkern[examples]" '
    '(or pip install ".[examples]" from a checkout)'
)


def _float_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    """``dtype`` as a NumPy dtype, if it is a floating type (pixels are scaled to [0, 1])."""
    resolved = np.dtype(dtype)
    if not np.issubdtype(resolved, np.floating):
        raise ValueError(f"dtype must be a floating-point type, got {resolved}")
    return resolved


def load_digits(test_size: float = 0.25, seed: int = 0, dtype: DTypeLike = np.float32) -> Split:
    """The 8×8 handwritten digits from ``sklearn.datasets.load_digits``, split train/test.

    x has shape (n, 64) with pixel intensities 0…16 scaled to [0, 1] (x = pixels / 16, exact
    in float32); t holds labels 0…9 as int64. The split is
    ``train_test_split(x, t, test_size=test_size, stratify=t, random_state=seed)``: the same
    seed gives the same split, and each class keeps its share in both parts.

    Raises ImportError, with the install command, when scikit-learn is not installed.
    """
    dtype = _float_dtype(dtype)
    try:
        from sklearn.datasets import load_digits as sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:
        raise ImportError(_SKLEARN_HINT) from error

    digits = sk_load_digits()
    x = (np.asarray(digits.data, dtype=np.float64) / 16.0).astype(dtype)
    t = np.asarray(digits.target, dtype=np.int64)
    x_train, x_test, t_train, t_test = train_test_split(
        x, t, test_size=test_size, stratify=t, random_state=seed
    )
    c = np.ascontiguousarray  # train_test_split already copies; this just guarantees the layout
    return c(x_train), c(t_train), c(x_test), c(t_test)


# IDX format: a big-endian uint32 magic number 0x0000TTNN (TT = element type, 0x08 = unsigned
# byte; NN = number of dimensions), then NN big-endian uint32 sizes, then the data, row-major.
_IMAGES_MAGIC = 2051  # 0x00000803: ubyte, 3 dims (count, rows, cols)
_LABELS_MAGIC = 2049  # 0x00000801: ubyte, 1 dim (count)

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_idx(path: Path, magic: int) -> NDArray[np.uint8]:
    """The array stored in an IDX file (gzipped if the name ends in .gz), header validated."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                raw = stream.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as error:  # e.g. gzip.BadGzipFile, a truncated .gz
        raise ValueError(f"{path}: cannot read IDX data: {error}") from error
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(
            f"{path}: bad IDX magic number {found} (0x{found:08x}), expected {magic} "
            f"(0x{magic:08x}); is this the right file, and decompressed if not named .gz?"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data), "
            f"but the file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _locate(data_dir: Path, name: str) -> Path | None:
    """``data_dir/name`` if it exists, else ``data_dir/name.gz``, else None (plain wins)."""
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(
    data_dir: str | Path,
    dtype: DTypeLike = np.float32,
    normalize: bool = True,
    flatten: bool = True,
) -> Split:
    """MNIST from the four standard IDX files in ``data_dir``; nothing is ever downloaded.

    Looks for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each plain or with a ``.gz``
    suffix (the plain file is used when both exist).

    Images: x = pixels / 255 ∈ [0, 1] if ``normalize``, else the raw 0…255 values, in ``dtype``;
    shape (n, rows·cols) if ``flatten``, else (n, 1, rows, cols) (channel-first, as the textbook).
    Labels: int64 class indices.

    Raises FileNotFoundError naming the directory and every missing file, and ValueError for a
    malformed file (bad magic number, truncated data, image/label count mismatch).
    """
    dtype = _float_dtype(dtype)
    root = Path(data_dir)
    names = list(_MNIST_FILES.values())
    if not root.is_dir():
        raise FileNotFoundError(
            f"MNIST directory {str(root)!r} does not exist (or is not a directory); it must "
            f"contain {', '.join(names)} (each optionally .gz); optkern never downloads data"
        )
    located = {key: _locate(root, name) for key, name in _MNIST_FILES.items()}
    missing = [f"{_MNIST_FILES[key]}[.gz]" for key, path in located.items() if path is None]
    if missing:
        raise FileNotFoundError(
            f"MNIST directory {str(root)!r} is missing {', '.join(missing)} "
            "(looked for each name as is and with .gz); optkern never downloads data"
        )

    paths = {key: path for key, path in located.items() if path is not None}  # all of them

    def images(key: str) -> NDArray[np.floating[Any]]:
        pixels = _read_idx(paths[key], _IMAGES_MAGIC)
        x = pixels.astype(dtype)  # a new, writable, C-contiguous array
        if normalize:
            x /= 255  # in place: keeps dtype
        n, rows, cols = pixels.shape
        return x.reshape(n, rows * cols) if flatten else x.reshape(n, 1, rows, cols)

    def labels(key: str) -> NDArray[np.int64]:
        return _read_idx(paths[key], _LABELS_MAGIC).astype(np.int64)

    x_train, t_train = images("train_images"), labels("train_labels")
    x_test, t_test = images("test_images"), labels("test_labels")
    for part, x, t in (("train", x_train, t_train), ("test", x_test, t_test)):
        if len(x) != len(t):
            raise ValueError(f"MNIST {part} set: {len(x)} images but {len(t)} labels")
    return x_train, t_train, x_test, t_test
