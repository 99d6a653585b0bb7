"""Vision datasets on small files written here, against torchvision's readers and scikit-learn."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
from _vision_torchvision import torchvision
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images

from torsh import data
from torsh.data import DataFileNotFoundError
from torsh.errors import ConfigError, DataError
from torsh.vision import transforms as T
from torsh.vision.datasets import (
    CIFAR10,
    CIFAR100,
    MNIST,
    DatasetFormatError,
    Digits,
    FashionMNIST,
    ImageFolder,
    read_idx,
)
from torsh.vision.io import ImageDecodeError

tv_datasets = torchvision.datasets


# ----------------------------------------------------------------------------------------------- ImageFolder


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory):
    """root/<class>/... with nested folders, mixed-case extensions, non-images, PNG and JPEG photos."""
    root = tmp_path_factory.mktemp("folder")
    photo = load_sample_images().images[0][::16, ::16]
    rng = np.random.default_rng(0)
    files = {
        "zebra": ["b.png", "A.JPG", "sub/x.jpeg", "sub/deeper/y.png", "notes.txt"],
        "apple": ["10.png", "2.png", "1.bmp"],
        "Mango": ["m.webp", "skip.gif"],
    }
    for cls, names in files.items():
        for name in names:
            path = root / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(".txt"):
                path.write_text("not an image")
                continue
            img = np.roll(photo, int(rng.integers(0, 30)), axis=1)
            fmt = {
                ".jpg": "JPEG",
                ".jpeg": "JPEG",
                ".png": "PNG",
                ".bmp": "BMP",
                ".webp": "WEBP",
                ".gif": "GIF",
            }
            Image.fromarray(np.ascontiguousarray(img)).save(
                path, format=fmt[os.path.splitext(name.lower())[1]]
            )
    (root / "a_file_not_a_class.png").write_bytes(b"")
    return root


def test_image_folder_matches_torchvision(image_tree):
    ours = ImageFolder(image_tree)
    theirs = tv_datasets.ImageFolder(str(image_tree))
    assert ours.classes == theirs.classes == ["Mango", "apple", "zebra"]
    assert ours.class_to_idx == theirs.class_to_idx
    assert ours.samples == theirs.samples and ours.targets == theirs.targets and ours.imgs == theirs.imgs
    assert len(ours) == len(theirs) == 8
    for i in range(len(ours)):
        (a, ya), (b, yb) = ours[i], theirs[i]
        assert ya == yb and a.mode == b.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_image_folder_is_valid_file_and_transforms(image_tree):
    def only_png(path):
        return path.endswith(".png")

    ours = ImageFolder(
        image_tree,
        is_valid_file=only_png,
        allow_empty=True,
        transform=T.Compose([T.Resize([8, 8]), T.ToArray()]),
        target_transform=lambda y: y * 10,
    )
    theirs = tv_datasets.ImageFolder(str(image_tree), is_valid_file=only_png, allow_empty=True)
    assert ours.samples == theirs.samples
    x, y = ours[0]
    assert x.shape == (3, 8, 8) and x.dtype == np.float32 and y == 10 * theirs.targets[0]
    batch = next(iter(data.DataLoader(ours, batch_size=2)))
    assert batch[0].shape == (2, 3, 8, 8)


def test_image_folder_errors(tmp_path, image_tree):
    with pytest.raises(DataFileNotFoundError, match="no class folder"):
        ImageFolder(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "readme.txt").write_text("x")
    with pytest.raises(DataFileNotFoundError, match="no valid file for the classes cat"):
        ImageFolder(tmp_path)
    with pytest.raises(DataFileNotFoundError, match="not a folder"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(ConfigError, match="exactly one"):
        from torsh.vision.datasets.folder import make_dataset

        make_dataset(image_tree, {"apple": 0}, extensions=(".png",), is_valid_file=lambda p: True)
    # corrupt and truncated images fail when loaded, naming the file
    (tmp_path / "cat" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    good = tmp_path / "cat" / "cut.jpg"
    Image.fromarray(load_sample_images().images[1][::8, ::8]).save(good, format="JPEG")
    good.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    ds = ImageFolder(tmp_path)
    for i, name in enumerate(["bad.png", "cut.jpg"]):
        with pytest.raises(ImageDecodeError, match=name):
            ds[i]
    with pytest.raises(DataError, match="bad.png"):
        list(data.DataLoader(ds, batch_size=2, collate_fn=lambda s: s))


# ----------------------------------------------------------------------------------------------------- MNIST


def _write_idx(path, array, compress=False):
    codes = {np.uint8: 8, np.int8: 9, np.dtype(">i2"): 11, np.dtype(">i4"): 12}
    arr = np.asarray(array)
    code = codes.get(arr.dtype.type, codes.get(arr.dtype))
    payload = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + arr.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)
    for cls in ("MNIST", "FashionMNIST"):
        raw = root / cls / "raw"
        for prefix, n in (("train", 12), ("t10k", 5)):
            _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
            _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    return root


@pytest.mark.parametrize("cls, tv_cls", [(MNIST, "MNIST"), (FashionMNIST, "FashionMNIST")])
@pytest.mark.parametrize("train", [True, False])
def test_mnist_matches_torchvision_reading_the_same_files(mnist_root, cls, tv_cls, train):
    ours = cls(mnist_root, train=train)
    theirs = getattr(tv_datasets, tv_cls)(str(mnist_root), train=train, download=False)
    np.testing.assert_array_equal(ours.data, theirs.data.numpy())
    np.testing.assert_array_equal(ours.targets, theirs.targets.numpy())
    assert ours.classes == theirs.classes and ours.class_to_idx == theirs.class_to_idx
    for i in (0, len(ours) - 1):
        (a, ya), (b, yb) = ours[i], theirs[i]
        assert ya == yb and isinstance(ya, int)
        np.testing.assert_array_equal(a, np.asarray(b))


def test_mnist_reads_gzip_and_plain_root(tmp_path, mnist_root):
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), np.array([1, 2, 3], np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", images, compress=True)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, compress=True)
    ds = MNIST(tmp_path, train=False)  # files directly under root, gzip-compressed
    np.testing.assert_array_equal(ds.data, images)
    assert ds.targets.tolist() == [1, 2, 3] and ds.targets.dtype == np.int64


def test_mnist_batches_through_the_loader(mnist_root):
    fast = MNIST(mnist_root)
    slow = MNIST(mnist_root, transform=lambda x: x)  # per-sample path
    a = list(data.DataLoader(fast, batch_size=5, shuffle=True, seed=0))
    b = list(data.DataLoader(slow, batch_size=5, shuffle=True, seed=0))
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        assert xa.dtype == np.uint8 and ya.dtype == np.int64


def test_idx_errors_name_the_file(tmp_path):
    good = np.arange(6, dtype=np.uint8)
    _write_idx(tmp_path / "ok", good)
    np.testing.assert_array_equal(read_idx(tmp_path / "ok"), good)
    _write_idx(tmp_path / "i16", np.arange(4, dtype=">i2").reshape(2, 2))
    assert read_idx(tmp_path / "i16").tolist() == [[0, 1], [2, 3]]
    raw = (tmp_path / "ok").read_bytes()
    (tmp_path / "magic").write_bytes(b"\x08\x00" + raw[2:])
    with pytest.raises(DatasetFormatError, match="magic' is not an IDX file: its magic number is 08000801"):
        read_idx(tmp_path / "magic")
    (tmp_path / "short").write_bytes(raw[:-2])
    with pytest.raises(DatasetFormatError, match=r"short.*shape \(6,\).*12 bytes"):
        read_idx(tmp_path / "short")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw)[:-6])
    with pytest.raises(DatasetFormatError, match="cut.gz"):
        read_idx(tmp_path / "cut.gz")
    # mismatched counts, labels out of range, images of the wrong rank
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(DatasetFormatError, match="3 images but .* 2 labels"):
        MNIST(tmp_path)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, 12], np.uint8))
    with pytest.raises(DatasetFormatError, match=r"outside \[0, 10\)"):
        MNIST(tmp_path)
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 784), np.uint8))
    with pytest.raises(DatasetFormatError, match=r"\(N, H, W\)"):
        MNIST(tmp_path)


def test_missing_mnist_file_names_paths_and_source(tmp_path):
    with pytest.raises(DataFileNotFoundError) as info:
        FashionMNIST(tmp_path, train=False)
    msg = str(info.value)
    assert os.path.join(str(tmp_path), "FashionMNIST", "raw", "t10k-images-idx3-ubyte") in msg
    assert "fashion-mnist" in msg and "never downloads" in msg
    with pytest.raises(ConfigError, match="does not download"):
        MNIST(tmp_path, download=True)


# ----------------------------------------------------------------------------------------------------- CIFAR


def _cifar_arrays(rng, n, coarse=False):
    images = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    fine = rng.integers(0, 100 if coarse else 10, n).astype(np.uint8)
    return images, fine, rng.integers(0, 20, n).astype(np.uint8)


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    """The same random data as the binary version (read by torsh) and the pickled one (for torchvision)."""
    root = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(0)
    b10, p10 = root / "cifar-10-batches-bin", root / "cifar-10-batches-py"
    b10.mkdir()
    p10.mkdir()
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images, labels, _ = _cifar_arrays(rng, 4)
        (b10 / f"{name}.bin").write_bytes(np.concatenate([labels[:, None], images], 1).tobytes())
        with open(p10 / name, "wb") as f:
            pickle.dump({"data": images, "labels": labels.tolist()}, f)
    with open(p10 / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)
    (b10 / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    b100, p100 = root / "cifar-100-binary", root / "cifar-100-python"
    b100.mkdir()
    p100.mkdir()
    fine_names = [f"fine{i:02d}" for i in range(100)]
    for name in ("train", "test"):
        images, fine, coarse = _cifar_arrays(rng, 6, coarse=True)
        (b100 / f"{name}.bin").write_bytes(
            np.concatenate([coarse[:, None], fine[:, None], images], 1).tobytes()
        )
        with open(p100 / name, "wb") as f:
            pickle.dump({"data": images, "fine_labels": fine.tolist(), "coarse_labels": coarse.tolist()}, f)
    with open(p100 / "meta", "wb") as f:
        pickle.dump({"fine_label_names": fine_names}, f)
    (b100 / "fine_label_names.txt").write_text("\n".join(fine_names))
    return root


@pytest.mark.parametrize("cls, tv_name", [(CIFAR10, "CIFAR10"), (CIFAR100, "CIFAR100")])
@pytest.mark.parametrize("train", [True, False])
def test_cifar_binary_matches_torchvision_pickles(cifar_root, monkeypatch, cls, tv_name, train):
    tv_cls = getattr(tv_datasets, tv_name)
    # the files written here do not have the md5 sums of the real archives
    monkeypatch.setattr(tv_cls, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    theirs = tv_cls(str(cifar_root), train=train, download=False)
    ours = cls(cifar_root, train=train)
    np.testing.assert_array_equal(ours.data, theirs.data)
    assert ours.targets.tolist() == list(theirs.targets)
    assert ours.classes == theirs.classes and ours.class_to_idx == theirs.class_to_idx
    (a, ya), (b, yb) = ours[3], theirs[3]
    np.testing.assert_array_equal(a, np.asarray(b))
    assert ya == yb


def test_cifar_errors(tmp_path, cifar_root):
    with pytest.raises(DataFileNotFoundError, match="cifar-10-binary.tar.gz"):
        CIFAR10(tmp_path)
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    (d / "test_batch.bin").write_bytes(bytes(3073 * 2 - 5))
    with pytest.raises(DatasetFormatError, match="test_batch.bin.*3073-byte records"):
        CIFAR10(tmp_path, train=False)
    (d / "test_batch.bin").write_bytes(bytes([11]) + bytes(3072))
    with pytest.raises(DatasetFormatError, match="label 11"):
        CIFAR10(tmp_path, train=False)
    # a CIFAR-100 file read as CIFAR-10 is caught by its labels or its record size
    with pytest.raises(DataError):
        CIFAR10(cifar_root / "cifar-100-binary", train=False)
    assert CIFAR100(cifar_root, train=False).coarse_targets.max() < 20


# ---------------------------------------------------------------------------------------------------- Digits


def test_digits_equal_sklearn():
    bunch = load_digits()
    ds = Digits()
    assert len(ds) == len(bunch.target) == 1797
    np.testing.assert_array_equal(ds.data, np.round(bunch.images * 255 / 16).astype(np.uint8))
    np.testing.assert_array_equal(ds.targets, bunch.target)
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797
    # stratified: every class is in both splits at ~4:1
    counts_train, counts_test = np.bincount(train.targets), np.bincount(test.targets)
    assert (np.abs(counts_train / counts_test - 4) < 0.2).all()
    # the splits partition the data: together they hold every sample exactly once
    merged = np.concatenate([train.data, test.data]).reshape(1797, -1)
    np.testing.assert_array_equal(np.unique(merged, axis=0), np.unique(ds.data.reshape(1797, -1), axis=0))
    x, y = next(
        iter(
            data.DataLoader(
                Digits(train=True, transform=T.Compose([T.Resize(16), T.ToArray()])), batch_size=4
            )
        )
    )
    assert x.shape == (4, 1, 16, 16) and x.dtype == np.float32 and y.tolist() == train.targets[:4].tolist()


def test_array_backed_batches_gather_straight_into_shared_memory():
    from functools import partial

    from torsh.data import _transport

    ds = Digits()
    indices = [5, -1, 5, 0, *range(40, 1700), -1797]
    segments = _transport.SegmentPool()
    into = partial(_transport.segment_arrays, segments=segments)
    try:
        ref_x, ref_y = ds._torsh_get_batch(indices)
        x, y = ds._torsh_get_batch(indices, into=into)
        assert x.dtype == ref_x.dtype == np.uint8 and y.dtype == ref_y.dtype == np.int64
        np.testing.assert_array_equal(x, ref_x)
        np.testing.assert_array_equal(y, ref_y)
        whole = np.frombuffer(segments.pending[0].buf, np.uint8)
        assert np.shares_memory(x, whole) and np.shares_memory(y, whole)  # no fresh batch, no copy
        del whole, x, y
        segments.drop_pending()
        with pytest.raises(data.SampleIndexError, match="out of range"):
            ds._torsh_get_batch([0, 1797], into=into)
        assert segments.pending is None  # checked before a segment was taken
    finally:
        segments.close()
    # through process workers: the batches equal the in-process ones
    loader = data.DataLoader(ds, batch_size=512, num_workers=2, persistent_workers=False)
    for (wx, wy), (px, py) in zip(loader, data.DataLoader(ds, batch_size=512), strict=True):
        np.testing.assert_array_equal(wx, px)
        np.testing.assert_array_equal(wy, py)
        assert wy.dtype == py.dtype == np.int64


def test_bad_arguments():
    with pytest.raises(ConfigError, match="callable"):
        Digits(transform=3)
    with pytest.raises(ConfigError, match="train"):
        Digits(train="yes")
    with pytest.raises(data.SampleIndexError, match="out of range"):
        Digits(train=False)[5000]
