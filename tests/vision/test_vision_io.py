"""Image I/O vs Pillow decoding (torchvision's PIL path); make_grid/save_image vs torchvision."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from _vision_torchvision import torchvision
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from sklearn.datasets import load_sample_images

import torsh.vision as tv
from torsh.data import DataFileNotFoundError
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.vision.io import ImageDecodeError, decode_image, encode_png, read_file, read_image, write_png
from torsh.vision.utils import make_grid, save_image

TF = torchvision.transforms.v2.functional


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("io")
    photo = load_sample_images().images[1][::6, ::6]
    paths = {}
    for mode in ("RGB", "L", "RGBA", "LA", "P"):
        img = Image.fromarray(np.ascontiguousarray(photo)).convert(mode)
        for fmt, ext in (("PNG", ".png"), ("JPEG", ".jpg")):
            if fmt == "JPEG" and mode not in ("RGB", "L"):
                continue
            path = root / f"{mode}{ext}"
            img.save(path, format=fmt)
            paths[(mode, fmt)] = path
    return paths


def _pil_reference(path, mode):
    """What torchvision gives for a PIL image: pil_to_tensor after Pillow's conversion."""
    img = Image.open(path)
    target = {"GRAY": "L", "GRAY_ALPHA": "LA", "RGB": "RGB", "RGBA": "RGBA"}.get(mode)
    if target is not None:
        img = img.convert(target)
    elif img.mode == "P":
        img = img.convert("RGB")
    return TF.pil_to_tensor(img).numpy()


@pytest.mark.parametrize("mode", ["UNCHANGED", "GRAY", "GRAY_ALPHA", "RGB", "RGBA"])
def test_read_image_equals_pillow_decoding(photo_files, mode):
    for path in photo_files.values():
        ours = read_image(path, mode=mode)
        ref = _pil_reference(path, mode)
        assert ours.dtype == np.uint8 and ours.shape == ref.shape, path
        np.testing.assert_array_equal(ours, ref)
        np.testing.assert_array_equal(decode_image(read_file(path), mode=mode), ours)
        np.testing.assert_array_equal(decode_image(path.read_bytes(), mode=mode), ours)


def test_write_png_round_trip_and_16_bit(tmp_path):
    rng = np.random.default_rng(0)
    for c in (1, 2, 3, 4):
        img = rng.integers(0, 256, (c, 5, 7), dtype=np.uint8)
        write_png(img, tmp_path / f"{c}.png", compression_level=9)
        np.testing.assert_array_equal(read_image(tmp_path / f"{c}.png"), img)
        ref = TF.pil_to_tensor(Image.open(tmp_path / f"{c}.png")).numpy()
        np.testing.assert_array_equal(ref, img)
    deep = rng.integers(0, 65536, (6, 4), dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out = read_image(tmp_path / "deep.png")
    assert out.dtype == np.uint16 and out.shape == (1, 6, 4)
    np.testing.assert_array_equal(out[0], deep)
    assert bytes(encode_png(np.zeros((1, 1, 1), np.uint8))[:8]) == b"\x89PNG\r\n\x1a\n"


def test_io_errors_name_the_file(tmp_path, photo_files):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ImageDecodeError, match="bad.jpg"):
        read_image(bad)
    cut = tmp_path / "cut.png"
    data = photo_files[("RGB", "PNG")].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="cut.png"):
        read_image(cut)
    with pytest.raises(ImageDecodeError, match="bytes"):
        decode_image(b"\xff\xd8\xff garbage")
    with pytest.raises(DataFileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ConfigError, match="mode"):
        read_image(photo_files[("RGB", "PNG")], mode="CMYK")
    with pytest.raises(DTypeError, match="uint8"):
        write_png(np.zeros((3, 2, 2), np.float32), tmp_path / "x.png")
    with pytest.raises(ShapeError, match=r"\(C, H, W\)"):
        write_png(np.zeros((2, 2), np.uint8), tmp_path / "x.png")
    with pytest.raises(ShapeError, match="1-D uint8"):
        decode_image(np.zeros((2, 2), np.uint8))


@given(
    b=st.integers(1, 11),
    c=st.sampled_from([1, 3]),
    nrow=st.integers(1, 5),
    padding=st.integers(0, 3),
    normalize=st.booleans(),
    scale_each=st.booleans(),
    pad_value=st.floats(0, 1),
    use_range=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_make_grid_equals_torchvision(b, c, nrow, padding, normalize, scale_each, pad_value, use_range, seed):
    x = np.random.default_rng(seed).normal(size=(b, c, 4, 5)).astype(np.float32)
    kw = dict(
        nrow=nrow,
        padding=padding,
        normalize=normalize,
        scale_each=scale_each,
        pad_value=pad_value,
        value_range=(-1.0, 1.5) if use_range else None,
    )
    ours = make_grid(x, **kw)
    theirs = torchvision.utils.make_grid(torch.from_numpy(x), **kw).numpy()
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_make_grid_inputs_like_torchvision():
    rng = np.random.default_rng(0)
    imgs = [rng.random((3, 4, 4), dtype=np.float32) for _ in range(3)]
    for ours_in, theirs_in in [
        (imgs, [torch.from_numpy(i) for i in imgs]),
        (imgs[0][0], torch.from_numpy(imgs[0][0])),
        (imgs[0][:1], torch.from_numpy(imgs[0][:1])),
    ]:
        np.testing.assert_array_equal(make_grid(ours_in), torchvision.utils.make_grid(theirs_in).numpy())
    with pytest.raises(ShapeError, match="one shape"):
        make_grid([np.zeros((3, 2, 2)), np.zeros((3, 3, 3))])
    with pytest.raises(ShapeError, match=r"\(B, C, H, W\)"):
        make_grid(np.zeros((1, 1, 1, 1, 1)))


def test_save_image_equals_torchvision(tmp_path):
    x = np.random.default_rng(0).random((5, 3, 6, 7), dtype=np.float32) * 1.2 - 0.1  # some values clip
    save_image(x, tmp_path / "ours.png", nrow=3, padding=1)
    torchvision.utils.save_image(torch.from_numpy(x), tmp_path / "theirs.png", nrow=3, padding=1)
    np.testing.assert_array_equal(read_image(tmp_path / "ours.png"), read_image(tmp_path / "theirs.png"))
    buf = io.BytesIO()
    save_image(x[0], buf, format="PNG")
    assert decode_image(buf.getvalue()).shape == (3, 6, 7)
    with pytest.raises(ConfigError, match="unexpected keyword"):
        save_image(x, tmp_path / "x.png", rows=2)
    assert tv.save_image is save_image and tv.make_grid is make_grid and tv.read_image is read_image
