"""CIFAR-10 from the official python batches: found, downloaded when asked, and read.

CIFAR-10 is found, in this order, at the `data_dir` argument, at the folder or
archive named by the BN_SMOOTH_CIFAR10 environment variable, or in
~/.cache/bn_smooth. Each may be the `cifar-10-batches-py` folder itself, a
folder holding it or `cifar-10-python.tar.gz`, or the archive itself. When
nothing is found and `download=True` (the experiments' default), the official
archive is fetched into ~/.cache/bn_smooth and checked against its official md5
before use; setting BN_SMOOTH_OFFLINE=1 turns downloads off on an air-gapped
machine.
"""

import functools
import hashlib
import io
import os
import pickle
import sys
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
from absl import logging

from bn_smooth.errors import DataError

ENV_VAR = "BN_SMOOTH_CIFAR10"
OFFLINE_ENV = "BN_SMOOTH_OFFLINE"  # set (to anything but 0): never download
DEFAULT_DIR = Path("~/.cache/bn_smooth").expanduser()
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_BYTES = 170_498_071  # the official archive's size, when a server does not say
ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"

_FIX = (
    f"Point data_dir (or ${ENV_VAR}) at the official '{FOLDER_NAME}' folder or "
    f"'{ARCHIVE_NAME}' (from {CIFAR10_URL}), or pass --config.download=True to fetch it"
)
# A file that is there but broken: a download would not replace it (it only runs when
# nothing is found), so the fix is the file itself.
_REPLACE = f"Replace it with the official file (from {CIFAR10_URL})."


def _candidates(data_dir):
    if data_dir:
        return [Path(data_dir).expanduser()]
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR]).expanduser()]
    return [DEFAULT_DIR]


def _resolve(root: Path):
    """The batches folder or the archive under `root`, or None."""
    if root.is_file():
        return root
    for path in (root, root / FOLDER_NAME):
        if (path / TEST_FILE).exists() or (path / TRAIN_FILES[0]).exists():
            return path
    if (root / ARCHIVE_NAME).is_file():
        return root / ARCHIVE_NAME
    return None


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def offline() -> bool:
    """Whether $BN_SMOOTH_OFFLINE forbids downloads."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def download(dest_dir, url: str | None = None, md5: str | None = None) -> Path:
    """Fetch the archive (default: the official one) into dest_dir with a progress bar,
    saying where from and how large first; verify its md5."""
    url, md5 = url or CIFAR10_URL, md5 or CIFAR10_MD5
    dest_dir = Path(dest_dir).expanduser()
    target = dest_dir / ARCHIVE_NAME
    # Per process: the processes of a job may download into one shared folder at once.
    partial = target.with_suffix(f".{os.getpid()}.part")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            logging.info(
                "downloading CIFAR-10 (%.0f MiB) from %s into %s; to stop this, "
                "press Ctrl-C and pass --config.download=False or set %s=1",
                (total or CIFAR10_BYTES) / 2**20,
                url,
                dest_dir,
                OFFLINE_ENV,
            )
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                _progress(done, total)
        sys.stderr.write("\n")
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"could not download CIFAR-10 from {url} ({e}). Fetch that file by "
            f"hand into {dest_dir}, or anywhere and point data_dir (or "
            f"${ENV_VAR}) at it."
        ) from e
    actual = md5sum(partial)
    if actual != md5:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"the download from {url} has md5 {actual}, expected {md5}; it was deleted. "
            "Try again, or fetch the archive by hand and point data_dir at it."
        )
    partial.rename(target)
    return target


def _progress(done: int, total: int):
    if total:
        filled = int(30 * done / total)
        bar = "#" * filled + "." * (30 - filled)
        mib = f"{done / 2**20:.0f}/{total / 2**20:.0f} MiB"
        sys.stderr.write(f"\rdownloading CIFAR-10 [{bar}] {mib}")
    else:
        sys.stderr.write(f"\rdownloading CIFAR-10 {done / 2**20:.0f} MiB")
    sys.stderr.flush()


def _unpickle(raw: bytes, name: str) -> dict:
    try:
        batch = pickle.loads(raw, encoding="bytes")
        images = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int32)
    except Exception as e:  # pickle raises many types on bad bytes; all mean the same here
        raise DataError(
            f"{name} is corrupt or truncated ({type(e).__name__}: {e}). {_REPLACE}"
        ) from None
    if images.ndim != 2 or images.shape[1] != 3072 or len(images) != len(labels):
        raise DataError(
            f"{name} is not a CIFAR-10 batch (data {images.shape}, {len(labels)} labels). "
            f"{_REPLACE}"
        )
    # Rows are R, G, B planes of 32x32, row-major: to NHWC.
    return {"images": images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), "labels": labels}


def _reader(source: Path):
    """A function name -> bytes over the folder or the archive."""
    if source.is_dir():

        def read(name):
            path = source / name
            if not path.is_file():
                raise DataError(
                    f"{path} is missing. Put the official file there (from {CIFAR10_URL})."
                )
            return path.read_bytes(), str(path)

        return read
    try:
        archive = tarfile.open(source, "r:gz")
        members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{source} is not a readable tar.gz archive ({e}). {_REPLACE}") from None

    def read(name):
        if name not in members:
            raise DataError(f"{source} has no member {name}. {_REPLACE}")
        try:
            return archive.extractfile(members[name]).read(), f"{source}:{name}"
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{source}:{name} is corrupt or truncated ({e}). {_REPLACE}") from None

    return read


def load(
    data_dir=None, download_if_missing: bool = False, url: str | None = None, md5: str | None = None
) -> dict:
    """CIFAR-10 as read-only numpy arrays: train/test images uint8 (N, 32, 32, 3), labels
    int32, and the training images' per-channel `train_mean` and `train_std`.

    With `download_if_missing`, and unless $BN_SMOOTH_OFFLINE is set, data found
    nowhere is downloaded (`download`) into the first place looked at. The arrays are
    read once per process for the same unchanged files: a suite's runs share them
    instead of each spending seconds unpickling and measuring them.
    """
    roots = _candidates(data_dir)
    source = next((s for s in map(_resolve, roots) if s is not None), None)
    if source is None:
        where = ", ".join(map(str, roots))
        if not download_if_missing:
            raise DataError(f"CIFAR-10 not found at {where}. {_FIX}.")
        if offline():
            raise DataError(
                f"CIFAR-10 not found at {where}, and ${OFFLINE_ENV} forbids "
                f"downloading it. {_FIX} with ${OFFLINE_ENV} unset."
            )
        source = download(roots[0], url, md5)
    return dict(_read_cifar10(str(source), _fingerprint(source)))  # a dict of one's own


def _fingerprint(source: Path) -> tuple:
    """(name, size, mtime) of the files read from `source`: a changed file is read again."""
    files = [source / name for name in (*TRAIN_FILES, TEST_FILE)] if source.is_dir() else [source]
    return tuple(
        (f.name, s.st_size, s.st_mtime_ns) for f in files if f.exists() for s in [f.stat()]
    )


@functools.lru_cache(maxsize=1)
def _read_cifar10(source: str, fingerprint: tuple) -> dict:
    logging.info("loading CIFAR-10 from %s", source)
    read = _reader(Path(source))

    def load(names):
        parts = [_unpickle(*read(name)) for name in names]
        return (
            np.concatenate([p["images"] for p in parts]),
            np.concatenate([p["labels"] for p in parts]),
        )

    train_images, train_labels = load(TRAIN_FILES)
    test_images, test_labels = load([TEST_FILE])
    mean, std = channel_stats(train_images)
    arrays = {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": test_images,
        "test_labels": test_labels,
        "train_mean": mean,
        "train_std": std,
    }
    for array in arrays.values():
        array.setflags(write=False)  # shared by every caller
    return {**arrays, "source": source}


def channel_stats(images: np.ndarray):
    """Per-channel mean and std of uint8 NHWC images, as float32.

    Exact, from each channel's histogram of the 256 pixel values: no float
    copy of the data set is made.
    """
    values = np.arange(256, dtype=np.float64)
    means, stds = [], []
    for c in range(images.shape[-1]):
        counts = np.bincount(images[..., c].ravel(), minlength=256).astype(np.float64)
        mean = counts @ values / counts.sum()
        means.append(mean)
        stds.append(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))
    return np.asarray(means, np.float32), np.asarray(stds, np.float32)


def write_batch(path, images: np.ndarray, labels, batch_label: str = "batch"):
    """Write uint8 NHWC images as one official-format batch file (for tests and fixtures)."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    obj = {
        b"batch_label": batch_label.encode(),
        b"labels": list(map(int, labels)),
        b"data": data,
        b"filenames": [f"{i:05d}.png".encode() for i in range(len(images))],
    }
    buf = io.BytesIO()
    pickle.dump(obj, buf, protocol=3)
    Path(path).write_bytes(buf.getvalue())
