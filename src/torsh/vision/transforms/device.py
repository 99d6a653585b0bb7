"""Batched augmentation on the accelerator: pure functions of ``(key, images, ...)``, jit-able.

Images are ``(B, C, H, W)`` arrays (torsh's layout); every random function takes an explicit JAX key
(``torsh.random.key(seed)``), draws per-sample decisions from it, and is a pure function (the same key
gives the same batch; ``torsh.jit`` compiles it with the sizes as static arguments).

``mixup`` and ``cutmix`` follow ``torchvision.transforms.v2.MixUp``/``CutMix`` (and timm): one ``lam``
per batch from ``Beta(alpha, alpha)``, each sample mixed with the batch rolled by one, labels one-hot
and mixed with the same weight (CutMix: the pasted area's true fraction).

Example:
    >>> import jax, jax.numpy as jnp, torsh
    >>> from torsh.vision.transforms import device as D
    >>> x = jnp.zeros((4, 3, 8, 8)); y = jnp.array([0, 1, 2, 3])
    >>> k1, k2, k3 = torsh.random.split(torsh.random.key(0), 3)
    >>> x = D.random_crop(k1, D.random_horizontal_flip(k2, x), 8, padding=2)
    >>> x, y = D.mixup(k3, D.normalize(x, [0.5] * 3, [0.5] * 3), y, num_classes=10)
    >>> x.shape, y.shape
    ((4, 3, 8, 8), (4, 10))
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError, ShapeError

__all__ = [
    "hflip",
    "vflip",
    "random_horizontal_flip",
    "random_vertical_flip",
    "random_crop",
    "normalize",
    "one_hot",
    "mixup",
    "cutmix",
    "mix_batch",
    "cutmix_box",
    "paste_box",
]


def _check_key(key: Any, where: str) -> None:
    if isinstance(key, numbers.Integral):
        raise ConfigError(
            f"torsh.vision.transforms.device.{where}: expected a PRNG key, got the int {key!r}; write "
            f"torsh.random.key({key}) (and split it for every call: the same key gives the same augmentation)"
        )
    dt = getattr(key, "dtype", None)
    if dt is None or not (
        jax.dtypes.issubdtype(dt, jax.dtypes.prng_key)
        or (np.dtype(dt) == np.uint32 and key.shape[-1:] == (2,))
    ):
        raise ConfigError(
            f"torsh.vision.transforms.device.{where}: expected a PRNG key (torsh.random.key(seed)), "
            f"got {type(key).__name__}"
        )


def _check_images(images: Any, where: str) -> jax.Array:
    x = jnp.asarray(images)
    if x.ndim != 4:
        raise ShapeError(
            f"torsh.vision.transforms.device.{where}: expected a (B, C, H, W) batch of images, got "
            f"shape {x.shape}"
        )
    return x


def hflip(images: Any) -> jax.Array:
    """Mirror every image left-right.


    Args:
      images: a ``(B, C, H, W)`` batch (a jax or numpy array).

    Returns:
      The mirrored batch.

    Raises:
      ShapeError: ``images`` is not 4-D ``(B, C, H, W)``.

    Example:
        >>> import jax.numpy as jnp
        >>> hflip(jnp.arange(2.0).reshape(1, 1, 1, 2)).ravel().tolist()
        [1.0, 0.0]
    """
    return _check_images(images, "hflip")[..., ::-1]


def vflip(images: Any) -> jax.Array:
    """Mirror every image top-bottom.


    Args:
      images: a ``(B, C, H, W)`` batch (a jax or numpy array).

    Returns:
      The mirrored batch.

    Raises:
      ShapeError: ``images`` is not 4-D ``(B, C, H, W)``.

    Example:
        >>> import jax.numpy as jnp
        >>> vflip(jnp.arange(2.0).reshape(1, 1, 2, 1)).ravel().tolist()
        [1.0, 0.0]
    """
    return _check_images(images, "vflip")[..., ::-1, :]


def _random_flip(key: Any, images: Any, p: float, axis: int, where: str) -> jax.Array:
    _check_key(key, where)
    x = _check_images(images, where)
    if not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"torsh.vision.transforms.device.{where}: p must be in [0, 1], got {p}")
    flip = jax.random.uniform(key, (x.shape[0],)) < p
    return jnp.where(flip[:, None, None, None], jnp.flip(x, axis=axis), x)


def random_horizontal_flip(key: Any, images: Any, p: float = 0.5) -> jax.Array:
    """Mirror each image left-right with probability ``p`` (independently per sample).


    Args:
      key: a PRNG key (``torsh.random.key(...)``), split per sample inside.
      images: a ``(B, C, H, W)`` batch (a jax or numpy array).
      p: the flip probability, in [0, 1].

    Returns:
      The batch, each image flipped or not.

    Raises:
      ConfigError: ``key`` is a plain int (pass ``torsh.random.key(seed)``) or ``p`` outside [0, 1].
      ShapeError: ``images`` is not 4-D ``(B, C, H, W)``.

    Example:
        >>> import jax.numpy as jnp, torsh
        >>> random_horizontal_flip(torsh.random.key(0), jnp.ones((2, 1, 2, 2)), p=1.0).shape
        (2, 1, 2, 2)
    """
    return _random_flip(key, images, p, 3, "random_horizontal_flip")


def random_vertical_flip(key: Any, images: Any, p: float = 0.5) -> jax.Array:
    """Mirror each image top-bottom with probability ``p`` (independently per sample).


    Args:
      key: a PRNG key (``torsh.random.key(...)``), split per sample inside.
      images: a ``(B, C, H, W)`` batch (a jax or numpy array).
      p: the flip probability, in [0, 1].

    Returns:
      The batch, each image flipped or not.

    Raises:
      ConfigError: ``key`` is a plain int (pass ``torsh.random.key(seed)``) or ``p`` outside [0, 1].
      ShapeError: ``images`` is not 4-D ``(B, C, H, W)``.

    Example:
        >>> import jax.numpy as jnp, torsh
        >>> random_vertical_flip(torsh.random.key(0), jnp.ones((2, 1, 2, 2))).shape
        (2, 1, 2, 2)
    """
    return _random_flip(key, images, p, 2, "random_vertical_flip")


def random_crop(
    key: Any,
    images: Any,
    size: int | Sequence[int],
    padding: int | Sequence[int] = 0,
    padding_mode: str = "constant",
    fill: float = 0.0,
) -> jax.Array:
    """A random ``size`` window of every image (independent offsets), after ``padding``.

    ``padding`` is an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)`` as in
    torchvision; ``padding_mode`` is ``"constant"`` (``fill``), ``"edge"``, ``"reflect"`` or ``"symmetric"``.
    The classic CIFAR augmentation is ``random_crop(key, x, 32, padding=4)``.


    Args:
      key: a PRNG key (``torsh.random.key(...)``), split per sample inside.
      images: a ``(B, C, H, W)`` batch (a jax or numpy array).
      size: ``(h, w)`` or an int for a square.
      padding: an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
      padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``.
      fill: the constant of ``padding_mode="constant"``.

    Returns:
      The ``(B, C, h, w)`` crops.

    Raises:
      ConfigError: ``key`` is a plain int (pass ``torsh.random.key(seed)``), a malformed size,
        negative padding or an unknown mode.
      ShapeError: ``images`` is not 4-D ``(B, C, H, W)``, or the crop is larger than the padded image.

    Example:
        >>> import jax.numpy as jnp, torsh
        >>> random_crop(torsh.random.key(0), jnp.ones((2, 3, 32, 32)), 32, padding=4).shape
        (2, 3, 32, 32)
    """
    from . import functional as F

    _check_key(key, "random_crop")
    x = _check_images(images, "random_crop")
    if isinstance(size, numbers.Integral):
        ch, cw = int(size), int(size)
    elif isinstance(size, (list, tuple)) and len(size) == 2:
        ch, cw = int(size[0]), int(size[1])
    else:
        raise ConfigError(
            f"torsh.vision.transforms.device.random_crop: size must be an int or (h, w), got {size!r}"
        )
    left, top, right, bottom = F._parse_padding(padding, "device.random_crop")
    if min(left, top, right, bottom) < 0:
        raise ConfigError(
            f"torsh.vision.transforms.device.random_crop: padding must be >= 0, got {padding!r}"
        )
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ConfigError(
            f"torsh.vision.transforms.device.random_crop: padding_mode must be constant, edge, reflect or "
            f"symmetric, got {padding_mode!r}"
        )
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    if padding_mode == "constant":
        x = jnp.pad(x, widths, mode="constant", constant_values=jnp.asarray(fill, x.dtype))
    else:
        x = jnp.pad(x, widths, mode=padding_mode)
    b, c, h, w = x.shape
    if h < ch or w < cw:
        raise ShapeError(
            f"torsh.vision.transforms.device.random_crop: crop size {(ch, cw)} is larger than the padded "
            f"image size {(h, w)}"
        )
    kt, kl = jax.random.split(key)
    tops = jax.random.randint(kt, (b,), 0, h - ch + 1)
    lefts = jax.random.randint(kl, (b,), 0, w - cw + 1)

    def one(img: jax.Array, t: jax.Array, l_: jax.Array) -> jax.Array:
        return jax.lax.dynamic_slice(img, (0, t, l_), (c, ch, cw))

    return jax.vmap(one)(x, tops, lefts)


def normalize(images: Any, mean: Sequence[float], std: Sequence[float]) -> jax.Array:
    """``(x - mean) / std`` per channel of ``(..., C, H, W)`` images.


    Args:
      images: ``(..., C, H, W)`` images (a jax or numpy array).
      mean: one mean per channel.
      std: one standard deviation per channel.

    Returns:
      The normalised float images.

    Raises:
      ShapeError: fewer than 3 dimensions, or ``mean``/``std`` lengths other than the channels.
      ConfigError: a zero standard deviation.

    Example:
        >>> import jax.numpy as jnp
        >>> normalize(jnp.ones((1, 2, 1, 1)), [0.5, 0.0], [0.5, 2.0]).ravel().tolist()
        [1.0, 0.5]
    """
    x = jnp.asarray(images)
    if x.ndim < 3:
        raise ShapeError(
            f"torsh.vision.transforms.device.normalize: expected (..., C, H, W), got shape {x.shape}"
        )
    m = np.asarray(mean, np.float64).reshape(-1)
    s = np.asarray(std, np.float64).reshape(-1)
    if m.size not in (1, x.shape[-3]) or s.size not in (1, x.shape[-3]):
        raise ShapeError(
            f"torsh.vision.transforms.device.normalize: mean/std have {m.size}/{s.size} values for "
            f"{x.shape[-3]} channels"
        )
    if (s == 0).any():
        raise ConfigError("torsh.vision.transforms.device.normalize: std contains zero")
    dt = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
    return (x.astype(dt) - jnp.asarray(m, dt)[:, None, None]) / jnp.asarray(s, dt)[:, None, None]


def one_hot(labels: Any, num_classes: int, dtype: Any = jnp.float32) -> jax.Array:
    """Integer labels ``(B,)`` -> ``(B, num_classes)``; ``(B, num_classes)`` soft labels pass through.


    Args:
      labels: ``(B,)`` integer classes, or ``(B, num_classes)`` soft labels.
      num_classes: the number of classes.
      dtype: the result's dtype.

    Returns:
      ``(B, num_classes)`` labels.

    Raises:
      ShapeError: labels of another shape, or soft labels with another class count.

    Example:
        >>> import jax.numpy as jnp
        >>> one_hot(jnp.array([1]), 3).tolist()
        [[0.0, 1.0, 0.0]]
    """
    y = jnp.asarray(labels)
    if y.ndim == 2:
        if y.shape[1] != num_classes:
            raise ShapeError(
                f"torsh.vision.transforms.device: soft labels have {y.shape[1]} classes, "
                f"num_classes={num_classes}"
            )
        return y.astype(dtype)
    if y.ndim != 1 or not jnp.issubdtype(y.dtype, jnp.integer):
        raise ShapeError(
            "torsh.vision.transforms.device: labels must be integer class indices of shape (B,) or "
            "soft labels "
            f"(B, num_classes), got {y.dtype} of shape {y.shape}"
        )
    return jax.nn.one_hot(y, num_classes, dtype=dtype)


def _check_mix(
    key: Any, images: Any, labels: Any, num_classes: int, alpha: float, where: str
) -> tuple[jax.Array, jax.Array]:
    """The checks of ``mixup``/``cutmix``; returns the images and the labels made one-hot."""
    _check_key(key, where)
    if not alpha > 0:
        raise ConfigError(f"torsh.vision.transforms.device.{where}: alpha must be > 0, got {alpha}")
    x = _check_images(images, where)
    if not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ConfigError(f"torsh.vision.transforms.device.{where}: num_classes must be a positive int")
    y = one_hot(labels, int(num_classes), x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32)
    if y.shape[0] != x.shape[0]:
        raise ShapeError(
            f"torsh.vision.transforms.device.{where}: {x.shape[0]} images but {y.shape[0]} labels"
        )
    return x, y


def _mix_rolled(x: jax.Array, lam: jax.Array) -> jax.Array:
    """``lam * x + (1 - lam) * x`` rolled by one sample: each sample mixed with the previous one."""
    return lam * x + (1 - lam) * jnp.roll(x, 1, axis=0)


def mix_batch(images: Any, labels: jax.Array, lam: Any) -> tuple[jax.Array, jax.Array]:
    """MixUp with a given ``lam``: ``lam * x + (1 - lam) * roll(x, 1)`` for images and (one-hot) labels.


    Args:
      images: a ``(B, ...)`` batch.
      labels: ``(B, num_classes)`` one-hot or soft labels.
      lam: the mixing weight (a scalar).

    Returns:
      ``(images, labels)`` mixed with the batch rolled by one.

    Example:
        >>> import jax.numpy as jnp
        >>> x, y = mix_batch(jnp.array([[[[0.0]]], [[[1.0]]]]), jnp.eye(2), 0.75)
        >>> x.ravel().tolist(), y.tolist()
        ([0.25, 0.75], [[0.75, 0.25], [0.25, 0.75]])
    """
    x = jnp.asarray(images)
    lam = jnp.asarray(lam, x.dtype)
    return _mix_rolled(x, lam), _mix_rolled(labels, lam)


def mixup(
    key: Any, images: Any, labels: Any, num_classes: int, alpha: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """MixUp (``torchvision.transforms.v2.MixUp``): ``lam ~ Beta(alpha, alpha)``, pairs with the rolled batch.


    Args:
      key: a PRNG key (``torsh.random.key(...)``), split per sample inside.
      images: a ``(B, C, H, W)`` batch (a jax or numpy array).
      labels: ``(B,)`` classes or ``(B, num_classes)`` soft labels.
      num_classes: the number of classes.
      alpha: the Beta distribution's parameter (> 0).

    Returns:
      ``(images, labels)``: the mixed batch and ``(B, num_classes)`` mixed labels.

    Raises:
      ConfigError: ``key`` is a plain int (pass ``torsh.random.key(seed)``), ``alpha <= 0`` or a
        non-positive ``num_classes``.
      ShapeError: ``images`` is not 4-D ``(B, C, H, W)``, or labels that do not match the batch.

    Example:
        >>> import jax.numpy as jnp, torsh
        >>> x, y = mixup(torsh.random.key(0), jnp.ones((2, 1, 2, 2)), jnp.array([0, 1]), num_classes=2)
        >>> [round(float(v), 6) for v in y.sum(axis=1)]
        [1.0, 1.0]
    """
    x, y = _check_mix(key, images, labels, num_classes, alpha, "mixup")
    lam = jax.random.beta(key, alpha, alpha)
    return mix_batch(x, y, lam)


def cutmix_box(key: Any, lam: Any, height: int, width: int) -> tuple[jax.Array, jax.Array]:
    """The CutMix box ``(x1, y1, x2, y2)`` for ``lam`` and the true kept fraction ``lam_adjusted``.

    As torchvision: a centre drawn uniformly over the image, half-sides ``int(0.5 sqrt(1 - lam) W)``
    and ``... H``, clipped to the image; ``lam_adjusted = 1 - box area / image area``.


    Args:
      key: a PRNG key.
      lam: the kept fraction drawn for CutMix.
      height: the image height.
      width: the image width.

    Returns:
      ``(box, lam_adjusted)``: ``(x1, y1, x2, y2)`` int32 and the true kept fraction.

    Example:
        >>> import torsh
        >>> box, lam = cutmix_box(torsh.random.key(0), 0.75, 8, 8)
        >>> box.shape, bool(0.0 <= lam <= 1.0)
        ((4,), True)
    """
    kx, ky = jax.random.split(key)
    r_x = jax.random.randint(kx, (), 0, width)
    r_y = jax.random.randint(ky, (), 0, height)
    r = 0.5 * jnp.sqrt(1.0 - jnp.asarray(lam, jnp.float32))
    r_w_half = jnp.floor(r * width).astype(jnp.int32)
    r_h_half = jnp.floor(r * height).astype(jnp.int32)
    x1 = jnp.maximum(r_x - r_w_half, 0)
    y1 = jnp.maximum(r_y - r_h_half, 0)
    x2 = jnp.minimum(r_x + r_w_half, width)
    y2 = jnp.minimum(r_y + r_h_half, height)
    box = jnp.stack([x1, y1, x2, y2])
    lam_adjusted = 1.0 - ((x2 - x1) * (y2 - y1)).astype(jnp.float32) / (width * height)
    return box, lam_adjusted


def paste_box(images: Any, labels: jax.Array, box: Any, lam_adjusted: Any) -> tuple[jax.Array, jax.Array]:
    """Paste ``box`` of the rolled batch into every image; labels mixed with ``lam_adjusted``.


    Args:
      images: a ``(B, C, H, W)`` batch.
      labels: ``(B, num_classes)`` labels.
      box: ``(x1, y1, x2, y2)`` from :func:`cutmix_box`.
      lam_adjusted: the kept fraction.

    Returns:
      ``(images, labels)``.

    Example:
        >>> import jax.numpy as jnp
        >>> images = jnp.array([[[[0.0, 0.0]]], [[[1.0, 1.0]]]])
        >>> x, y = paste_box(images, jnp.eye(2), jnp.array([0, 0, 1, 1]), 0.5)
        >>> x[0].ravel().tolist(), y[0].tolist()
        ([1.0, 0.0], [0.5, 0.5])
    """
    x = jnp.asarray(images)
    box = jnp.asarray(box)
    h, w = x.shape[-2:]
    rows = jnp.arange(h)[:, None]
    cols = jnp.arange(w)[None, :]
    inside = (rows >= box[1]) & (rows < box[3]) & (cols >= box[0]) & (cols < box[2])
    out = jnp.where(inside, jnp.roll(x, 1, axis=0), x)
    return out, _mix_rolled(labels, jnp.asarray(lam_adjusted, labels.dtype))


def cutmix(
    key: Any, images: Any, labels: Any, num_classes: int, alpha: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """CutMix (``torchvision.transforms.v2.CutMix``): paste a box of the rolled batch, mix labels by area.


    Args:
      key: a PRNG key (``torsh.random.key(...)``), split per sample inside.
      images: a ``(B, C, H, W)`` batch (a jax or numpy array).
      labels: ``(B,)`` classes or ``(B, num_classes)`` soft labels.
      num_classes: the number of classes.
      alpha: the Beta distribution's parameter (> 0).

    Returns:
      ``(images, labels)``: the pasted batch and labels mixed by area.

    Raises:
      ConfigError: ``key`` is a plain int (pass ``torsh.random.key(seed)``), ``alpha <= 0`` or a
        non-positive ``num_classes``.
      ShapeError: ``images`` is not 4-D ``(B, C, H, W)``, or labels that do not match the batch.

    Example:
        >>> import jax.numpy as jnp, torsh
        >>> x, y = cutmix(torsh.random.key(1), jnp.ones((2, 1, 4, 4)), jnp.array([0, 1]), num_classes=2)
        >>> x.shape, y.shape
        ((2, 1, 4, 4), (2, 2))
    """
    x, y = _check_mix(key, images, labels, num_classes, alpha, "cutmix")
    k_lam, k_box = jax.random.split(key)
    lam = jax.random.beta(k_lam, alpha, alpha)
    box, lam_adjusted = cutmix_box(k_box, lam, x.shape[-2], x.shape[-1])
    return paste_box(x, y, box, lam_adjusted)
