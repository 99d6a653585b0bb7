"""Device-side batched augmentation: torchvision MixUp/CutMix semantics, crop/flip references, keys, jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _vision_torchvision import tv_transforms as TV

import torsh
from torsh.errors import ConfigError, ShapeError
from torsh.vision.transforms import device as D

B, C, H, W = 6, 3, 10, 12


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.random((B, C, H, W), dtype=np.float32), rng.integers(0, 5, B)


@pytest.fixture(scope="module")
def jitted():
    """Flip, padded crop and normalisation, compiled once."""

    @jax.jit
    def pipeline(key, x):
        k1, k2 = jax.random.split(key)
        x = D.random_horizontal_flip(k1, x)
        x = D.random_crop(k2, x, (H, W), padding=2, padding_mode="reflect")
        return D.normalize(x, [0.5, 0.4, 0.3], [0.2, 0.3, 0.4])

    return pipeline


@pytest.fixture(scope="module")
def mixers():
    """MixUp and CutMix (alpha=0.5) over a batch of keys, compiled once (Beta sampling compiles slowly)."""

    @jax.jit
    def run(keys, x, y):
        return jax.vmap(
            lambda k: (D.mixup(k, x, y, num_classes=5, alpha=0.5), D.cutmix(k, x, y, 5, alpha=0.5))
        )(keys)

    return run


def test_mixup_matches_torchvision_for_the_same_lambda(batch):
    x, y = batch
    tv = TV.MixUp(alpha=1.0, num_classes=5)
    torch.manual_seed(0)
    lam = float(tv._dist.sample(()))
    torch.manual_seed(0)
    tx, ty = tv(torch.from_numpy(x), torch.from_numpy(y))
    ox, oy = D.mix_batch(x, D.one_hot(y, 5), lam)
    np.testing.assert_allclose(ox, tx.numpy(), atol=1e-6)
    np.testing.assert_allclose(oy, ty.numpy(), atol=1e-6)


def test_cutmix_matches_torchvision_for_the_same_box(batch):
    x, y = batch
    tv = TV.CutMix(alpha=1.0, num_classes=5)
    for seed in range(5):
        torch.manual_seed(seed)
        params = tv.make_params([torch.from_numpy(x)])
        torch.manual_seed(seed)
        tx, ty = tv(torch.from_numpy(x), torch.from_numpy(y))
        ox, oy = D.paste_box(x, D.one_hot(y, 5), jnp.array(params["box"]), params["lam_adjusted"])
        np.testing.assert_array_equal(ox, tx.numpy())
        np.testing.assert_allclose(oy, ty.numpy(), atol=1e-6)


def test_cutmix_box_follows_torchvisions_formula():
    """For fixed lam and centre, the box and lam_adjusted are torchvision's (int() half-sides, clipped)."""
    key = torsh.random.key(3)
    box_of = jax.jit(lambda k, lam: D.cutmix_box(k, lam, H, W))
    for lam in (0.1, 0.5, 0.93):
        box, lam_adj = box_of(key, lam)
        kx, ky = jax.random.split(key)
        r_x, r_y = int(jax.random.randint(kx, (), 0, W)), int(jax.random.randint(ky, (), 0, H))
        r = 0.5 * np.sqrt(1.0 - lam)
        rw, rh = int(np.float32(r) * W), int(np.float32(r) * H)
        expected = [max(r_x - rw, 0), max(r_y - rh, 0), min(r_x + rw, W), min(r_y + rh, H)]
        assert box.tolist() == expected
        area = (expected[2] - expected[0]) * (expected[3] - expected[1])
        assert float(lam_adj) == pytest.approx(1 - area / (H * W), abs=1e-6)


def test_mixup_lambda_distribution_and_cutmix_label_mass(mixers):
    """lam ~ Beta(0.5, 0.5) (mean 1/2, variance 1/8); CutMix labels weigh samples by their pixel share."""
    # images constant per sample (value = sample index) make the mixing weights measurable
    xs = np.broadcast_to(np.arange(B, dtype=np.float32)[:, None, None, None], (B, C, H, W))
    y = np.array([0, 1, 2, 3, 4, 1])
    (mx, my), (cx, cy) = mixers(jax.random.split(torsh.random.key(1), 400), xs, y)
    mx, my, cx, cy = (np.asarray(a) for a in (mx, my, cx, cy))
    np.testing.assert_allclose(my.sum(-1), 1.0, atol=1e-5)
    lam = my[:, 0, y[0]]
    assert abs(lam.mean() - 0.5) < 0.06 and abs(lam.var() - 0.125) < 0.03
    # sample 0 is mixed with sample 5 (the batch rolled by one), whose pixels are all 5
    np.testing.assert_allclose(mx[:, 0, 0, 0, 0], (1 - lam) * 5, atol=1e-4)
    own = np.mean(cx[:, 1] == 1.0, axis=(1, 2, 3))  # the kept fraction of sample 1
    expected = own[:, None] * np.eye(5)[y[1]] + (1 - own)[:, None] * np.eye(5)[y[0]]
    np.testing.assert_allclose(cy[:, 1], expected, atol=1e-6)
    # clipping at the borders and int() half-sides only shrink the box: kept fractions lean above lam
    assert 0.5 < own.mean() < 0.9 and own.min() < 0.5 < own.max()


def test_random_crop_equals_pad_then_slice(batch):
    x, _ = batch
    key = torsh.random.key(4)
    crop = jax.jit(lambda k, v: D.random_crop(k, v, (8, 9), padding=[1, 2, 3, 4], padding_mode="symmetric"))
    out = crop(key, x)
    kt, kl = jax.random.split(key)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 4), (1, 3)), mode="symmetric")
    tops = np.asarray(jax.random.randint(kt, (B,), 0, padded.shape[2] - 8 + 1))
    lefts = np.asarray(jax.random.randint(kl, (B,), 0, padded.shape[3] - 9 + 1))
    for b in range(B):
        np.testing.assert_array_equal(out[b], padded[b, :, tops[b] : tops[b] + 8, lefts[b] : lefts[b] + 9])
    # offsets cover the whole range
    img = jnp.arange(16.0).reshape(1, 1, 4, 4)
    crops = jax.jit(jax.vmap(lambda k: D.random_crop(k, img, 4, padding=1)))(
        jax.random.split(torsh.random.key(5), 200)
    )
    corners = set(np.asarray(crops)[:, 0, 0, 0, 0].tolist())
    assert corners == {0.0, 1.0, 4.0, 5.0}  # zero padding, or pixels (0, 0), (0, 1), (1, 0), (1, 1)


def test_flip_rate_and_flip_content(batch):
    x, _ = batch
    keys = jax.random.split(torsh.random.key(6), 200)
    flipped = jax.jit(jax.vmap(lambda k: D.random_horizontal_flip(k, x, p=0.25)))(keys)
    is_flipped = np.all(np.asarray(flipped) == x[..., ::-1][None], axis=(2, 3, 4))
    assert abs(is_flipped.mean() - 0.25) < 0.03
    assert (is_flipped | np.all(np.asarray(flipped) == x[None], axis=(2, 3, 4))).all()
    np.testing.assert_array_equal(D.vflip(x), x[:, :, ::-1])


def test_normalize_matches_torchvision(batch):
    x, _ = batch
    ref = TV.Normalize([0.5, 0.4, 0.3], [0.2, 0.3, 0.4])(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(D.normalize(x, [0.5, 0.4, 0.3], [0.2, 0.3, 0.4]), ref, atol=1e-6)


def test_jitted_augmentation_is_deterministic_per_key(batch, jitted, mixers):
    x, y = batch
    a, b, c = (jitted(torsh.random.key(k), x) for k in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and a.shape == (B, C, H, W)
    keys = jax.random.split(torsh.random.key(2), 400)  # the compiled shape: no recompilation
    keys = jnp.concatenate([keys[:1], keys[:399]])  # keys[0] == keys[1] != keys[2]
    (mx, my), (cx, cy) = mixers(keys, x, y)
    for out in (mx, my, cx, cy):
        np.testing.assert_array_equal(out[0], out[1])
    assert not np.array_equal(mx[0], mx[2])


def test_errors_name_the_fix(batch):
    x, y = batch
    with pytest.raises(ConfigError, match=r"torsh.random.key\(3\)"):
        D.random_horizontal_flip(3, x)
    with pytest.raises(ShapeError, match=r"\(B, C, H, W\)"):
        D.random_crop(torsh.random.key(0), x[0], 4)
    with pytest.raises(ShapeError, match="larger than"):
        D.random_crop(torsh.random.key(0), x, 40)
    with pytest.raises(ShapeError, match="labels"):
        D.mixup(torsh.random.key(0), x, y[:3], num_classes=5)
    with pytest.raises(ConfigError, match="alpha"):
        D.cutmix(torsh.random.key(0), x, y, num_classes=5, alpha=0.0)
