"""Image kernels of the host-side transforms (``torchvision.transforms.v2.functional``'s names).

Inputs are NumPy arrays laid out ``(H, W, C)`` or ``(H, W)`` (``uint8`` or float; what a decoder or
a dataset gives) or PIL images; outputs have the input's type, layout and dtype. After
:func:`to_array` images are ``(C, H, W)`` float32, the layout :func:`normalize` and :func:`erase` take.

Numbers equal torchvision's *tensor* kernels (the same formulas, in float32, the same rounding), so a
NumPy image gives what ``torchvision.transforms.v2`` gives for the same image as a ``uint8`` tensor
(within 1/255; bit-exact for most kernels). PIL images are resized, cropped, padded and flipped with
Pillow, as torchvision does for PIL inputs; the other kernels run on the PIL image's pixels as an array.

Example:
    >>> import numpy as np
    >>> from torsh.vision.transforms import functional as F
    >>> img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    >>> F.resize(img, [2, 3]).shape, F.hflip(img)[0, 0].tolist() == img[0, -1].tolist()
    ((2, 3, 3), True)
"""

from __future__ import annotations

import enum
import functools
import math
import numbers
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import ConfigError, DTypeError, ShapeError

__all__ = [
    "InterpolationMode",
    "get_size",
    "get_dimensions",
    "to_array",
    "to_pil_image",
    "normalize",
    "resize",
    "crop",
    "center_crop",
    "resized_crop",
    "pad",
    "hflip",
    "vflip",
    "rgb_to_grayscale",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "adjust_sharpness",
    "posterize",
    "solarize",
    "autocontrast",
    "equalize",
    "invert",
    "gaussian_blur",
    "rotate",
    "affine",
    "erase",
]


class InterpolationMode(str, enum.Enum):
    """Resampling filters (torchvision's names and values; plain strings such as ``"bilinear"`` work too).

    Example:
      >>> import numpy as np
      >>> from torsh.vision.transforms.functional import InterpolationMode, resize
      >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4)
      >>> InterpolationMode.NEAREST.value, resize(img, [2, 2], InterpolationMode.NEAREST).tolist()
      ('nearest', [[0, 2], [8, 10]])
    """

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _interp(mode: Any, where: str, allowed: Sequence[str] = ("nearest", "bilinear", "bicubic")) -> str:
    value = getattr(mode, "value", mode)  # also torchvision's InterpolationMode
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise ConfigError(
        f"torsh.vision.transforms.{where}: interpolation must be one of {list(allowed)}, got {mode!r}"
    )


# ---------------------------------------------------------------------------------------------------- types


def _pil_module() -> Any:
    return sys.modules.get("PIL.Image")


def _is_pil(img: Any) -> bool:
    mod = _pil_module()
    return mod is not None and isinstance(img, mod.Image)


_PIL_MODES = ("L", "LA", "RGB", "RGBA")


class _Image:
    """An input image as a ``(C, H, W)`` view, and how to turn a result back into the input's type."""

    def __init__(self, img: Any, where: str) -> None:
        self.pil_mode: str | None = None
        if _is_pil(img):
            if img.mode not in _PIL_MODES:
                raise DTypeError(
                    f"torsh.vision.transforms.{where}: PIL images of mode {img.mode!r} are not supported; "
                    f"convert first, e.g. img.convert('RGB') (supported: {list(_PIL_MODES)})"
                )
            self.pil_mode = img.mode
            arr = np.asarray(img)
        else:
            arr = np.asarray(img)
            if arr.dtype == np.bool_ or not (
                np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
            ):
                raise DTypeError(
                    f"torsh.vision.transforms.{where}: expected a uint8 or float image array or a PIL image, "
                    f"got {type(img).__name__} of dtype {arr.dtype}"
                )
        if arr.ndim == 2:
            self.had_channels = False
            self.chw = arr[None]
        elif arr.ndim == 3:
            if arr.shape[2] > 4 and arr.shape[0] <= 4:
                raise ShapeError(
                    f"torsh.vision.transforms.{where}: got an image of shape {arr.shape}, which looks "
                    "channels-first; transforms before ToArray take (H, W, C) arrays with at most 4 channels "
                    "(write arr.transpose(1, 2, 0))"
                )
            self.had_channels = True
            self.chw = arr.transpose(2, 0, 1)
        else:
            raise ShapeError(
                f"torsh.vision.transforms.{where}: expected an (H, W, C) or (H, W) image, got shape "
                f"{arr.shape} "
                "(images are channels-last before ToArray; ToArray makes (C, H, W))"
            )

    def back(self, chw: np.ndarray) -> Any:
        hwc = chw.transpose(1, 2, 0) if self.had_channels else chw[0]
        if self.pil_mode is not None:
            mode = self.pil_mode if chw.shape[0] == len(self.pil_mode) else {1: "L", 3: "RGB"}[chw.shape[0]]
            return _pil_module().fromarray(np.ascontiguousarray(hwc.astype(np.uint8)), mode=mode)
        return np.ascontiguousarray(hwc)


def _apply(img: Any, where: str, kernel: Callable[[np.ndarray], np.ndarray]) -> Any:
    image = _Image(img, where)
    return image.back(kernel(image.chw))


def _bound(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0


def _is_float(arr: np.ndarray) -> bool:
    return np.issubdtype(arr.dtype, np.floating)


def _to_int(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    # torch's float -> integer cast truncates toward zero (values here are already clamped >= 0)
    return np.trunc(x).astype(dtype)


def get_size(img: Any) -> list[int]:
    """``[height, width]`` of an image (``(H, W, C)`` array, ``(H, W)`` array or PIL image).


    Args:
      img: an ``(H, W, C)``/``(H, W)`` array or a PIL image.

    Returns:
      ``[height, width]``.

    Raises:
      ShapeError: an array of another rank.

    Example:
        >>> import numpy as np
        >>> get_size(np.zeros((5, 7, 3), np.uint8))
        [5, 7]
    """
    if _is_pil(img):
        return [img.height, img.width]
    shape = np.shape(img)
    if len(shape) not in (2, 3):
        raise ShapeError(
            f"torsh.vision.transforms.get_size: expected an (H, W, C) or (H, W) image, got {shape}"
        )
    return [int(shape[0]), int(shape[1])]


def get_dimensions(img: Any) -> list[int]:
    """``[channels, height, width]`` of an image.


    Args:
      img: an ``(H, W, C)``/``(H, W)`` array or a PIL image.

    Returns:
      ``[channels, height, width]``.

    Example:
        >>> import numpy as np
        >>> get_dimensions(np.zeros((5, 7), np.uint8))
        [1, 5, 7]
    """
    if _is_pil(img):
        return [len(img.getbands()), img.height, img.width]
    h, w = get_size(img)
    shape = np.shape(img)
    return [int(shape[2]) if len(shape) == 3 else 1, h, w]


# --------------------------------------------------------------------------------------------- conversion


def to_array(pic: Any) -> np.ndarray:
    """``(H, W, C)`` image -> ``(C, H, W)`` float32; ``uint8`` is scaled to [0, 1] (``ToTensor``'s rule).

    Other dtypes keep their values (cast to float32), as ``ToTensor`` does for non-byte arrays.


    Args:
      pic: an ``(H, W, C)``/``(H, W)`` array or a PIL image.

    Returns:
      A ``(C, H, W)`` float32 array.

    Example:
        >>> import numpy as np
        >>> to_array(np.full((1, 2, 3), 255, np.uint8)).shape, to_array(np.full((1, 1), 51, np.uint8)).dtype
        ((3, 1, 2), dtype('float32'))
    """
    image = _Image(pic, "to_array")
    chw = image.chw
    if chw.dtype == np.uint8:
        return np.ascontiguousarray(chw, dtype=np.float32) / np.float32(255)
    return np.ascontiguousarray(chw, dtype=np.float32)


def to_pil_image(pic: Any, mode: str | None = None) -> Any:
    """An ``(H, W, C)``/``(H, W)`` ``uint8`` array as a PIL image (``mode`` as Pillow's).


    Args:
      pic: an ``(H, W, C)``/``(H, W)`` ``uint8`` array (or a PIL image, returned as is).
      mode: a Pillow mode (default: from the channels).

    Returns:
      A PIL image.

    Raises:
      DTypeError: an array that is not ``uint8``.

    Example:
        >>> import numpy as np
        >>> to_pil_image(np.zeros((2, 3, 3), np.uint8)).size
        (3, 2)
    """
    from PIL import Image

    arr = np.asarray(pic)
    if arr.dtype != np.uint8:
        raise DTypeError(f"torsh.vision.transforms.to_pil_image: expected a uint8 array, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(arr), mode=mode)


def normalize(tensor: Any, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> np.ndarray:
    """``(x - mean) / std`` per channel of a ``(..., C, H, W)`` float array (``Normalize``).


    Args:
      tensor: a ``(..., C, H, W)`` float array.
      mean: one mean per channel.
      std: one standard deviation per channel (non-zero).
      inplace: accepted for torchvision's signature; arrays are never modified in place.

    Returns:
      The normalised float array.

    Raises:
      DTypeError: a non-float array.
      ShapeError: fewer than 3 dimensions, or ``mean``/``std`` lengths that do not match the channels.
      ConfigError: a zero standard deviation.

    Example:
        >>> import numpy as np
        >>> normalize(np.ones((2, 1, 1), np.float32), [0.5, 0.0], [0.5, 2.0]).ravel().tolist()
        [1.0, 0.5]
    """
    arr = np.asarray(tensor)
    if not _is_float(arr):
        raise DTypeError(
            "torsh.vision.transforms.normalize: expected a float (C, H, W) array (use ToArray "
            f"first), got {arr.dtype}"
        )
    if arr.ndim < 3:
        raise ShapeError(
            f"torsh.vision.transforms.normalize: expected a (..., C, H, W) array, got shape {arr.shape}"
        )
    c = arr.shape[-3]
    mean_a = np.asarray(mean, dtype=arr.dtype).reshape(-1)
    std_a = np.asarray(std, dtype=arr.dtype).reshape(-1)
    for name, v in (("mean", mean_a), ("std", std_a)):
        if v.size not in (1, c):
            raise ShapeError(
                f"torsh.vision.transforms.normalize: {name} has {v.size} values for an image with "
                f"{c} channels"
            )
    if (std_a == 0).any():
        raise ConfigError(
            f"torsh.vision.transforms.normalize: std evaluated to zero ({list(std)}), division by zero"
        )
    out = arr if (inplace and arr.flags.writeable) else arr.copy()
    out -= mean_a[:, None, None]
    out /= std_a[:, None, None]
    return out


# ------------------------------------------------------------------------------------------------- resize


def _compute_resized_output_size(
    hw: Sequence[int], size: int | Sequence[int] | None, max_size: int | None, where: str
) -> list[int]:
    h, w = hw
    short, long = (w, h) if w <= h else (h, w)
    if isinstance(size, (int, numbers.Integral)):  # int first: lets the type checker narrow
        size = [int(size)]
    if size is None:
        if not isinstance(max_size, int):
            raise ConfigError(f"torsh.vision.transforms.{where}: max_size must be an int when size is None")
        new_short, new_long = int(max_size * short / long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    elif len(size) == 1:
        requested = int(size[0])
        new_short, new_long = requested, int(requested * long / short)
        if max_size is not None:
            if max_size <= requested:
                raise ConfigError(
                    f"torsh.vision.transforms.{where}: max_size = {max_size} must be strictly "
                    "greater than the "
                    f"requested size for the smaller edge size = {size}"
                )
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    elif len(size) == 2:
        if max_size is not None:
            raise ConfigError(
                f"torsh.vision.transforms.{where}: max_size should only be passed if size is None or an int"
            )
        new_h, new_w = int(size[0]), int(size[1])
    else:
        raise ConfigError(f"torsh.vision.transforms.{where}: size must be an int or (h, w), got {size!r}")
    if new_h <= 0 or new_w <= 0:
        raise ConfigError(f"torsh.vision.transforms.{where}: output size ({new_h}, {new_w}) must be positive")
    return [new_h, new_w]


def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x)
    return np.where(
        x <= 1.0,
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        np.where(x < 2.0, (((x - 5.0) * x + 8.0) * x - 4.0) * a, 0.0),
    )


@functools.lru_cache(maxsize=64)
def _resize_weights(in_size: int, out_size: int, mode: str, antialias: bool) -> np.ndarray:
    """The (out, in) matrix of one axis, with the formulas of torch's ``interpolate``."""
    weights = np.zeros((out_size, in_size), np.float64)
    scale = in_size / out_size
    dst = np.arange(out_size)
    if mode == "nearest":
        # torch: floor(dst * scale) in float32, clamped to the last input pixel
        src = np.floor(dst.astype(np.float32) * np.float32(scale)).astype(np.int64)
        weights[dst, np.minimum(src, in_size - 1)] = 1.0
        weights.flags.writeable = False
        return weights
    if antialias:
        # the separable filters of torch's *_aa kernels (PIL's algorithm): support widens when shrinking
        interp = 2 if mode == "bilinear" else 4
        support = interp / 2 * scale if scale >= 1.0 else interp / 2.0
        invscale = 1.0 / scale if scale >= 1.0 else 1.0
        for i in range(out_size):
            center = scale * (i + 0.5)
            xmin = max(int(center - support + 0.5), 0)
            xmax = min(int(center + support + 0.5), in_size)
            x = (np.arange(xmin, xmax) - center + 0.5) * invscale
            w = np.maximum(1.0 - np.abs(x), 0.0) if mode == "bilinear" else _cubic(x, -0.5)
            total = w.sum()
            weights[i, xmin:xmax] = w / total if total != 0 else w
        weights.flags.writeable = False
        return weights
    src = scale * (dst + 0.5) - 0.5
    if mode == "bilinear":
        src = np.maximum(src, 0.0)
        i0 = np.floor(src).astype(np.int64)
        lam = src - i0
        i1 = np.minimum(i0 + 1, in_size - 1)
        np.add.at(weights, (dst, np.minimum(i0, in_size - 1)), 1.0 - lam)
        np.add.at(weights, (dst, i1), lam)
        weights.flags.writeable = False
        return weights
    i0 = np.floor(src).astype(np.int64)
    t = src - i0
    for off in (-1, 0, 1, 2):
        idx = np.clip(i0 + off, 0, in_size - 1)
        np.add.at(weights, (dst, idx), _cubic(t - off, -0.75))
    weights.flags.writeable = False
    return weights


def _int16_weights(weights: np.ndarray) -> tuple[np.ndarray, int]:
    """Weights as integers with the most fractional bits that keep them in int16 (torch's uint8 kernels)."""
    wmax = float(np.abs(weights).max())
    precision = 0
    while precision < 22 and int(0.5 + wmax * (1 << (precision + 1))) < (1 << 15):
        precision += 1
    scaled = weights * (1 << precision)
    return np.where(scaled >= 0, np.floor(0.5 + scaled), np.ceil(-0.5 + scaled)).astype(np.int64), precision


@functools.lru_cache(maxsize=64)
def _band(
    in_size: int, out_size: int, mode: str, antialias: bool, fixed: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """The weight matrix as windows: input indices ``(out, K)``, weights ``(out, K)``, fixed-point bits.

    Each output pixel reads a short contiguous window of inputs (K is about 2x the filter support), so a
    pass is K gathers and multiply-adds instead of a dense (out x in) product.
    """
    dense = _resize_weights(in_size, out_size, mode, antialias)
    precision = 0
    if fixed:
        dense, precision = _int16_weights(dense)
    nonzero = dense != 0
    first = np.argmax(nonzero, axis=1)
    last = in_size - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    k = int(np.max(last - first + 1))
    start = np.minimum(first, in_size - k)
    idx = start[:, None] + np.arange(k)[None, :]
    weights = np.take_along_axis(dense, idx, axis=1).astype(np.int32 if fixed else np.float64)
    idx.flags.writeable = False
    weights.flags.writeable = False
    return idx, weights, precision


def _resample_last_axis(x: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    out = x[..., idx[:, 0]] * weights[:, 0]
    for j in range(1, idx.shape[1]):
        out += x[..., idx[:, j]] * weights[:, j]
    return out


def _resize_uint8(chw: np.ndarray, new_h: int, new_w: int, mode: str, antialias: bool) -> np.ndarray:
    # torch's CPU uint8 path: width pass then height pass, each in fixed point (int16 weights, int32 sums),
    # rounded and clamped to uint8 in between. Floats computed in one go would differ by 1 on ~15% of the
    # pixels, and by up to 17 for bicubic (measured on sklearn's photos).
    x = chw.astype(np.int32)
    _, h, w = chw.shape
    if new_w != w:
        idx, wts, p = _band(w, new_w, mode, antialias, True)
        x = np.clip((_resample_last_axis(x, idx, wts) + (1 << (p - 1))) >> p, 0, 255)
    if new_h != h:
        idx, wts, p = _band(h, new_h, mode, antialias, True)
        xt = np.ascontiguousarray(x.transpose(0, 2, 1))
        x = np.clip((_resample_last_axis(xt, idx, wts) + (1 << (p - 1))) >> p, 0, 255).transpose(0, 2, 1)
    return np.ascontiguousarray(x.astype(np.uint8))


def _resize_chw(chw: np.ndarray, new_h: int, new_w: int, mode: str, antialias: bool) -> np.ndarray:
    _, h, w = chw.shape
    if (h, w) == (new_h, new_w):
        return chw.copy()
    if mode == "nearest":
        rows = np.argmax(_resize_weights(h, new_h, mode, False), axis=1)
        cols = np.argmax(_resize_weights(w, new_w, mode, False), axis=1)
        return chw[:, rows][:, :, cols]
    if chw.dtype == np.uint8:
        return _resize_uint8(chw, new_h, new_w, mode, antialias)
    x = chw if chw.dtype == np.float64 else chw.astype(np.float32)
    idx, wts, _ = _band(w, new_w, mode, antialias, False)
    out = _resample_last_axis(x, idx, wts.astype(x.dtype))
    idx, wts, _ = _band(h, new_h, mode, antialias, False)
    out = _resample_last_axis(np.ascontiguousarray(out.transpose(0, 2, 1)), idx, wts.astype(x.dtype))
    out = np.ascontiguousarray(out.transpose(0, 2, 1))
    if _is_float(chw):
        return out.astype(chw.dtype)
    return np.round(np.clip(out, 0, _bound(chw.dtype))).astype(chw.dtype)


_PIL_FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling values


def resize(
    img: Any,
    size: int | Sequence[int] | None,
    interpolation: InterpolationMode | str = InterpolationMode.BILINEAR,
    max_size: int | None = None,
    antialias: bool | None = True,
) -> Any:
    """Resize to ``size`` (``(h, w)``, or an int for the smaller edge keeping the aspect ratio).

    Arrays use torch's ``interpolate`` formulas (``antialias=True``: the widened separable filters of
    torch/PIL when shrinking; ``nearest`` never antialiases); ``uint8`` results are rounded. PIL images
    are resized by Pillow (which always antialiases), as torchvision does.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      size: ``(h, w)``, or an int for the smaller edge (``None`` with ``max_size`` only).
      interpolation: ``nearest``, ``nearest-exact``, ``bilinear`` or ``bicubic`` (an
        :class:`InterpolationMode` or its name).
      max_size: the longer edge's bound when ``size`` is an int.
      antialias: widen the filter when shrinking (bilinear/bicubic).

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: a bad size, ``max_size`` or interpolation.

    Example:
        >>> import numpy as np
        >>> resize(np.zeros((4, 8, 3), np.uint8), 2).shape
        (2, 4, 3)
    """
    mode = _interp(interpolation, "resize")
    new_h, new_w = _compute_resized_output_size(get_size(img), size, max_size, "resize")
    if _is_pil(img):
        if (img.height, img.width) == (new_h, new_w):
            return img
        return img.resize((new_w, new_h), resample=_PIL_FILTERS[mode])
    aa = bool(antialias) and mode != "nearest"
    return _apply(img, "resize", lambda chw: _resize_chw(chw, new_h, new_w, mode, aa))


# ---------------------------------------------------------------------------------------- crop / pad / flip


def _parse_padding(padding: int | Sequence[int], where: str) -> list[int]:
    """``[left, top, right, bottom]`` from torchvision's 1-, 2- or 4-element padding."""
    if isinstance(padding, numbers.Integral):
        p = int(padding)
        return [p, p, p, p]
    if isinstance(padding, (list, tuple)) and all(isinstance(p, numbers.Integral) for p in padding):
        if len(padding) == 1:
            return [int(padding[0])] * 4
        if len(padding) == 2:
            return [int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])]
        if len(padding) == 4:
            return [int(p) for p in padding]
    raise ConfigError(
        f"torsh.vision.transforms.{where}: padding must be an int or a 1-, 2- or 4-element sequence of ints, "
        f"got {padding!r}"
    )


_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


def _pad_chw(chw: np.ndarray, ltrb: Sequence[int], fill: Any, padding_mode: str) -> np.ndarray:
    left, top, right, bottom = ltrb
    # negative padding crops, as torch's pad does
    chw = chw[:, max(-top, 0) : chw.shape[1] - max(-bottom, 0), max(-left, 0) : chw.shape[2] - max(-right, 0)]
    widths = ((0, 0), (max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0)))
    if padding_mode != "constant":
        if padding_mode == "reflect" and (max(widths[1]) >= chw.shape[1] or max(widths[2]) >= chw.shape[2]):
            raise ConfigError(
                f"torsh.vision.transforms.pad: reflect padding {list(ltrb)} must be smaller than the image "
                f"size {chw.shape[1:]}"
            )
        mode: Any = padding_mode  # checked by pad(): one of numpy's pad modes (np.pad wants a Literal)
        return np.pad(chw, widths, mode=mode)
    fills = np.asarray(0 if fill is None else fill, dtype=np.float64).reshape(-1)
    if fills.size == 1:
        return np.pad(chw, widths, mode="constant", constant_values=np.asarray(fills[0]).astype(chw.dtype))
    if fills.size != chw.shape[0]:
        raise ConfigError(
            f"torsh.vision.transforms.pad: fill has {fills.size} values for an image with "
            f"{chw.shape[0]} channels"
        )
    return np.stack(
        [
            np.pad(c, widths[1:], mode="constant", constant_values=np.asarray(f).astype(chw.dtype))
            for c, f in zip(chw, fills, strict=True)
        ]
    )


def pad(
    img: Any,
    padding: int | Sequence[int],
    fill: float | Sequence[float] | None = 0,
    padding_mode: str = "constant",
) -> Any:
    """Pad the borders: ``padding`` is an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.

    ``padding_mode`` is ``"constant"`` (with ``fill``), ``"edge"``, ``"reflect"`` or ``"symmetric"``.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      padding: an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
      fill: the constant (per channel or one value) for ``padding_mode="constant"``.
      padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: malformed or negative padding, an unknown mode, or a reflect padding wider than the image.

    Example:
        >>> import numpy as np
        >>> pad(np.array([[1, 2]], np.uint8), [1, 0], padding_mode="reflect").tolist()
        [[2, 1, 2, 1]]
    """
    if padding_mode not in _PAD_MODES:
        raise ConfigError(
            f"torsh.vision.transforms.pad: padding_mode must be one of {list(_PAD_MODES)}, got "
            f"{padding_mode!r}"
        )
    ltrb = _parse_padding(padding, "pad")
    return _apply(img, "pad", lambda chw: _pad_chw(chw, ltrb, fill, padding_mode))


def crop(img: Any, top: int, left: int, height: int, width: int) -> Any:
    """The ``height x width`` window at ``(top, left)``; parts outside the image are zeros (as torchvision).


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      top: the window's top row (may be negative or beyond the image).
      left: the window's left column.
      height: the window's height.
      width: the window's width.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: a non-positive height or width.

    Example:
        >>> import numpy as np
        >>> crop(np.arange(9, dtype=np.uint8).reshape(3, 3), 1, 1, 2, 3).tolist()
        [[4, 5, 0], [7, 8, 0]]
    """
    top, left, height, width = int(top), int(left), int(height), int(width)
    if height <= 0 or width <= 0:
        raise ConfigError(
            f"torsh.vision.transforms.crop: height and width must be positive, got {height}, {width}"
        )
    if _is_pil(img):
        return img.crop((left, top, left + width, top + height))

    def kernel(chw: np.ndarray) -> np.ndarray:
        h, w = chw.shape[1:]
        right, bottom = left + width, top + height
        if left < 0 or top < 0 or right > w or bottom > h:
            part = chw[:, max(top, 0) : bottom, max(left, 0) : right]
            ltrb = [
                max(min(right, 0) - left, 0),
                max(min(bottom, 0) - top, 0),
                max(right - max(w, left), 0),
                max(bottom - max(h, top), 0),
            ]
            return _pad_chw(part, ltrb, 0, "constant")
        return chw[:, top:bottom, left:right].copy()

    return _apply(img, "crop", kernel)


def _center_crop_size(output_size: int | Sequence[int], where: str) -> tuple[int, int]:
    if isinstance(output_size, numbers.Integral):
        return int(output_size), int(output_size)
    if isinstance(output_size, (list, tuple)) and len(output_size) in (1, 2):
        return int(output_size[0]), int(output_size[-1])
    raise ConfigError(f"torsh.vision.transforms.{where}: size must be an int or (h, w), got {output_size!r}")


def center_crop(img: Any, output_size: int | Sequence[int]) -> Any:
    """The central ``output_size`` window (zero-padded when the image is smaller), as torchvision.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      output_size: ``(h, w)`` or an int for a square.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: ``output_size`` is neither an int nor ``(h, w)``.

    Example:
        >>> import numpy as np
        >>> center_crop(np.arange(16, dtype=np.uint8).reshape(4, 4), 2).tolist()
        [[5, 6], [9, 10]]
    """
    ch, cw = _center_crop_size(output_size, "center_crop")
    h, w = get_size(img)
    if ch > h or cw > w:
        ltrb = [
            (cw - w) // 2 if cw > w else 0,
            (ch - h) // 2 if ch > h else 0,
            (cw - w + 1) // 2 if cw > w else 0,
            (ch - h + 1) // 2 if ch > h else 0,
        ]
        img = pad(img, ltrb, fill=0)
        h, w = get_size(img)
        if (ch, cw) == (h, w):
            return img
    top = int(round((h - ch) / 2.0))
    left = int(round((w - cw) / 2.0))
    return crop(img, top, left, ch, cw)


def resized_crop(
    img: Any,
    top: int,
    left: int,
    height: int,
    width: int,
    size: int | Sequence[int],
    interpolation: InterpolationMode | str = InterpolationMode.BILINEAR,
    antialias: bool | None = True,
) -> Any:
    """:func:`crop` then :func:`resize` (``RandomResizedCrop``'s kernel).


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      top, left, height, width: the window, as in :func:`crop`.
      size: the output size, as in :func:`resize`.
      interpolation: as in :func:`resize`.
      antialias: as in :func:`resize`.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: a bad window, size or interpolation.

    Example:
        >>> import numpy as np
        >>> resized_crop(np.zeros((8, 8, 3), np.uint8), 0, 0, 4, 4, [2, 2]).shape
        (2, 2, 3)
    """
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def hflip(img: Any) -> Any:
    """Mirror left-right.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Example:
        >>> import numpy as np
        >>> hflip(np.array([[1, 2, 3]], np.uint8)).tolist()
        [[3, 2, 1]]
    """
    if _is_pil(img):
        return img.transpose(0)  # FLIP_LEFT_RIGHT
    return _apply(img, "hflip", lambda chw: chw[:, :, ::-1].copy())


def vflip(img: Any) -> Any:
    """Mirror top-bottom.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Example:
        >>> import numpy as np
        >>> vflip(np.array([[1], [2]], np.uint8)).tolist()
        [[2], [1]]
    """
    if _is_pil(img):
        return img.transpose(1)  # FLIP_TOP_BOTTOM
    return _apply(img, "vflip", lambda chw: chw[:, ::-1].copy())


# -------------------------------------------------------------------------------------------------- colour


def _check_channels(chw: np.ndarray, where: str) -> int:
    c = chw.shape[0]
    if c not in (1, 3):
        raise ShapeError(f"torsh.vision.transforms.{where}: expected an image with 1 or 3 channels, got {c}")
    return c


def _gray_float(chw: np.ndarray) -> np.ndarray:
    r, g, b = (chw[i].astype(np.float32) for i in range(3))
    return (r * np.float32(0.2989) + g * np.float32(0.587) + b * np.float32(0.114))[None]


def _blend(img1: np.ndarray, img2: np.ndarray | float, ratio: float) -> np.ndarray:
    ratio = float(ratio)
    bound = _bound(img1.dtype)
    f = img1.astype(np.float32) if not _is_float(img1) else img1
    out = np.clip(
        f * np.asarray(ratio, f.dtype) + np.asarray(img2, f.dtype) * np.asarray(1.0 - ratio, f.dtype),
        0,
        bound,
    )
    return out.astype(img1.dtype) if _is_float(img1) else _to_int(out, img1.dtype)


def rgb_to_grayscale(img: Any, num_output_channels: int = 1) -> Any:
    """ITU-R 601 luma ``0.2989 R + 0.587 G + 0.114 B`` (``Grayscale``); integer results truncate, as torch.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      num_output_channels: 1, or 3 (the grey level repeated).

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: ``num_output_channels`` other than 1 or 3.
      ShapeError: an image with other than 1 or 3 channels.

    Example:
        >>> import numpy as np
        >>> rgb_to_grayscale(np.full((1, 1, 3), 100, np.uint8), num_output_channels=3).ravel().tolist()
        [99, 99, 99]
    """
    if num_output_channels not in (1, 3):
        raise ConfigError(
            "torsh.vision.transforms.rgb_to_grayscale: num_output_channels must be 1 or 3, got "
            f"{num_output_channels}"
        )

    def kernel(chw: np.ndarray) -> np.ndarray:
        c = _check_channels(chw, "rgb_to_grayscale")
        if c == 1:
            gray = chw.copy()
        else:
            g = _gray_float(chw)
            gray = g.astype(chw.dtype) if _is_float(chw) else _to_int(g, chw.dtype)
        return np.repeat(gray, num_output_channels, axis=0)

    image = _Image(img, "rgb_to_grayscale")
    out = kernel(image.chw)
    if image.pil_mode is not None:
        return _pil_module().fromarray(out[0] if num_output_channels == 1 else out.transpose(1, 2, 0).copy())
    if not image.had_channels and num_output_channels == 1:
        return out[0]
    return np.ascontiguousarray(out.transpose(1, 2, 0))


def _check_factor(value: float, name: str, where: str) -> None:
    if value < 0:
        raise ConfigError(f"torsh.vision.transforms.{where}: {name} ({value}) must be non-negative")


def adjust_brightness(img: Any, brightness_factor: float) -> Any:
    """Multiply by ``brightness_factor`` and clamp.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      brightness_factor: >= 0; 0 gives black, 1 the original.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: a negative factor.
      ShapeError: an array that is not ``(H, W)`` or ``(H, W, C)``, or has the wrong number of channels.

    Example:
        >>> import numpy as np
        >>> adjust_brightness(np.array([[100, 200]], np.uint8), 1.5).tolist()
        [[150, 255]]
    """
    _check_factor(brightness_factor, "brightness_factor", "adjust_brightness")

    def kernel(chw: np.ndarray) -> np.ndarray:
        _check_channels(chw, "adjust_brightness")
        return _blend(chw, 0.0, brightness_factor)  # with black, as torchvision

    return _apply(img, "adjust_brightness", kernel)


def adjust_contrast(img: Any, contrast_factor: float) -> Any:
    """Blend with the mean grey level: ``factor * img + (1 - factor) * mean(gray)``.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      contrast_factor: >= 0; 0 gives the mean grey, 1 the original.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: a negative factor.
      ShapeError: an array that is not ``(H, W)`` or ``(H, W, C)``, or has the wrong number of channels.

    Example:
        >>> import numpy as np
        >>> adjust_contrast(np.array([[0, 100]], np.uint8), 0.0).tolist()
        [[50, 50]]
    """
    _check_factor(contrast_factor, "contrast_factor", "adjust_contrast")

    def kernel(chw: np.ndarray) -> np.ndarray:
        c = _check_channels(chw, "adjust_contrast")
        if c == 3:
            gray = _gray_float(chw)
            if not _is_float(chw):
                gray = np.floor(gray)
        else:
            gray = chw.astype(np.float32) if not _is_float(chw) else chw
        mean = np.mean(gray, dtype=np.float64).astype(gray.dtype)
        return _blend(chw, mean, contrast_factor)

    return _apply(img, "adjust_contrast", kernel)


def adjust_saturation(img: Any, saturation_factor: float) -> Any:
    """Blend with the grey image: 0 gives grey, 1 the original, 2 doubles the saturation.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      saturation_factor: >= 0.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: a negative factor.
      ShapeError: an array that is not ``(H, W)`` or ``(H, W, C)``, or has the wrong number of channels.

    Example:
        >>> import numpy as np
        >>> adjust_saturation(np.array([[[200, 100, 0]]], np.uint8), 0.0).ravel().tolist()
        [118, 118, 118]
    """
    _check_factor(saturation_factor, "saturation_factor", "adjust_saturation")

    def kernel(chw: np.ndarray) -> np.ndarray:
        if _check_channels(chw, "adjust_saturation") == 1:
            return chw.copy()
        gray = _gray_float(chw)
        if not _is_float(chw):
            gray = np.floor(gray)
        return _blend(chw, gray, saturation_factor)

    return _apply(img, "adjust_saturation", kernel)


def _rgb_to_hsv(image: np.ndarray) -> np.ndarray:
    r, g, _ = image
    maxc, minc = image.max(axis=0), image.min(axis=0)
    eqc = maxc == minc
    cr = maxc - minc
    ones = np.ones_like(maxc)
    s = cr / np.where(eqc, ones, maxc)
    divisor = np.where(eqc, ones, cr)
    rc, gc, bc = (maxc[None] - image) / divisor[None]
    neq_r = maxc != r
    eq_g = maxc == g
    hg = (rc + 2.0 - bc) * (eq_g & neq_r)
    hr = (bc - gc) * (~neq_r)
    hb = (gc + 4.0 - rc) * (neq_r & ~eq_g)
    h = np.fmod((hr + hg + hb) * np.float32(1.0 / 6.0) + np.float32(1.0), np.float32(1.0))
    return np.stack((h, s, maxc)).astype(np.float32)


def _hsv_to_rgb(img: np.ndarray) -> np.ndarray:
    h, s, v = img
    h6 = h * np.float32(6)
    i = np.floor(h6)
    f = h6 - i
    i = np.mod(i.astype(np.int32), 6)
    sxf = s * f
    one_minus_s = np.float32(1.0) - s
    q = np.clip((np.float32(1.0) - sxf) * v, 0.0, 1.0)
    t = np.clip((sxf + one_minus_s) * v, 0.0, 1.0)
    p = np.clip(one_minus_s * v, 0.0, 1.0)
    vpqt = np.stack((v, p, q, t))
    select = np.array([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]])[:, i]
    return np.take_along_axis(vpqt, select, axis=0).astype(np.float32)


def _to_float01(chw: np.ndarray) -> np.ndarray:
    return (
        chw.astype(np.float32) / np.float32(_bound(chw.dtype))
        if not _is_float(chw)
        else chw.astype(np.float32)
    )


def _from_float01(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    # torchvision's float -> int conversion: multiply by (max + 1 - eps), truncate
    return _to_int(np.clip(x * np.float32(_bound(dtype) + 1.0 - 1e-3), 0, None), dtype)


def adjust_hue(img: Any, hue_factor: float) -> Any:
    """Rotate the hue by ``hue_factor`` (in [-0.5, 0.5] turns) in HSV space.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      hue_factor: in [-0.5, 0.5].

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: ``hue_factor`` outside [-0.5, 0.5].
      ShapeError: an array that is not ``(H, W)`` or ``(H, W, C)``, or has the wrong number of channels.

    Example:
        >>> import numpy as np
        >>> adjust_hue(np.array([[[255, 0, 0]]], np.uint8), 1 / 3).ravel().tolist()
        [0, 255, 0]
    """
    if not -0.5 <= hue_factor <= 0.5:
        raise ConfigError(
            f"torsh.vision.transforms.adjust_hue: hue_factor ({hue_factor}) must be in [-0.5, 0.5]"
        )

    def kernel(chw: np.ndarray) -> np.ndarray:
        if _check_channels(chw, "adjust_hue") == 1 or chw.size == 0:
            return chw.copy()
        hsv = _rgb_to_hsv(_to_float01(chw))
        hsv[0] = np.mod(hsv[0] + np.float32(hue_factor), np.float32(1.0))
        return _from_float01(_hsv_to_rgb(hsv), chw.dtype)

    return _apply(img, "adjust_hue", kernel)


def adjust_sharpness(img: Any, sharpness_factor: float) -> Any:
    """Blend with a smoothed image (3x3 kernel, 5 in the centre), borders kept: 0 blurs, 2 sharpens.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      sharpness_factor: >= 0.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: a negative factor.
      ShapeError: an array that is not ``(H, W)`` or ``(H, W, C)``, or has the wrong number of channels.

    Example:
        >>> import numpy as np
        >>> adjust_sharpness(np.eye(3, dtype=np.uint8) * 130, 1.0).tolist()
        [[130, 0, 0], [0, 130, 0], [0, 0, 130]]
    """
    _check_factor(sharpness_factor, "sharpness_factor", "adjust_sharpness")

    def kernel(chw: np.ndarray) -> np.ndarray:
        _check_channels(chw, "adjust_sharpness")
        _, h, w = chw.shape
        if chw.size == 0 or h <= 2 or w <= 2:
            return chw.copy()
        fp = _is_float(chw)
        out = chw.astype(chw.dtype if fp else np.float32, copy=True)
        a, b = np.float32(1.0 / 13.0), np.float32(5.0 / 13.0)
        blurred = np.zeros((chw.shape[0], h - 2, w - 2), out.dtype)
        for dy in range(3):
            for dx in range(3):
                blurred += out[:, dy : dy + h - 2, dx : dx + w - 2] * (b if (dy, dx) == (1, 1) else a)
        if not fp:
            blurred = np.round(blurred)
        view = out[:, 1:-1, 1:-1]
        view += (blurred - view) * np.asarray(1.0 - sharpness_factor, out.dtype)
        out = np.clip(out, 0, _bound(chw.dtype))
        return out if fp else _to_int(out, chw.dtype)

    return _apply(img, "adjust_sharpness", kernel)


def posterize(img: Any, bits: int) -> Any:
    """Keep the ``bits`` most significant bits of every channel.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image. (``uint8``)
      bits: 0 to 8.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: ``bits`` is not an int in [0, 8].

    Example:
        >>> import numpy as np
        >>> posterize(np.array([[255, 17]], np.uint8), 2).tolist()
        [[192, 0]]
    """
    if not isinstance(bits, numbers.Integral) or not 0 <= bits <= 8:
        raise ConfigError(f"torsh.vision.transforms.posterize: bits must be an int in [0, 8], got {bits!r}")

    def kernel(chw: np.ndarray) -> np.ndarray:
        if _is_float(chw):
            levels = 1 << int(bits)
            return np.clip(np.floor(chw * levels), 0, levels - 1) * (1.0 / levels)
        nbits = np.iinfo(chw.dtype).bits
        if bits >= nbits:
            return chw.copy()
        mask = ((1 << int(bits)) - 1) << (nbits - int(bits))
        return chw & np.asarray(mask, chw.dtype)

    return _apply(img, "posterize", kernel)


def invert(img: Any) -> Any:
    """``max - img`` (255 for uint8, 1.0 for floats).


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Example:
        >>> import numpy as np
        >>> invert(np.array([[0, 55]], np.uint8)).tolist()
        [[255, 200]]
    """
    return _apply(img, "invert", lambda chw: np.asarray(_bound(chw.dtype), chw.dtype) - chw)


def solarize(img: Any, threshold: float) -> Any:
    """Invert the pixels ``>= threshold``.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      threshold: pixels at or above it are inverted.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: a threshold above the dtype's maximum.

    Example:
        >>> import numpy as np
        >>> solarize(np.array([[10, 200]], np.uint8), 128).tolist()
        [[10, 55]]
    """

    def kernel(chw: np.ndarray) -> np.ndarray:
        if threshold > _bound(chw.dtype):
            raise ConfigError(
                f"torsh.vision.transforms.solarize: threshold {threshold} exceeds the maximum value "
                f"of {chw.dtype}"
            )
        # torch compares an integer image with a Python float in float32 (type promotion): do the same
        limit = np.asarray(threshold, chw.dtype if _is_float(chw) else np.float32)
        return np.where(chw >= limit, np.asarray(_bound(chw.dtype), chw.dtype) - chw, chw)

    return _apply(img, "solarize", kernel)


def autocontrast(img: Any) -> Any:
    """Stretch every channel to the full range (its minimum to 0, its maximum to the top).


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ShapeError: an array that is not ``(H, W)`` or ``(H, W, C)``, or has the wrong number of channels.

    Example:
        >>> import numpy as np
        >>> autocontrast(np.array([[50, 100]], np.uint8)).tolist()   # float32 maths then truncation, as torch
        [[0, 254]]
    """

    def kernel(chw: np.ndarray) -> np.ndarray:
        _check_channels(chw, "autocontrast")
        if chw.size == 0:
            return chw.copy()
        bound = _bound(chw.dtype)
        f = chw.astype(np.float32) if not _is_float(chw) else chw
        lo = f.min(axis=(1, 2), keepdims=True)
        hi = f.max(axis=(1, 2), keepdims=True)
        eq = hi == lo
        inv_scale = (hi - lo) * np.asarray(1.0 / bound, f.dtype)
        lo = np.where(eq, 0, lo).astype(f.dtype)
        inv_scale = np.where(eq, 1, inv_scale).astype(f.dtype)
        out = np.clip((f - lo) / inv_scale, 0, bound)
        return out.astype(chw.dtype) if _is_float(chw) else _to_int(out, chw.dtype)

    return _apply(img, "autocontrast", kernel)


def _equalize_channel(ch: np.ndarray) -> np.ndarray:
    hist = np.bincount(ch.ravel(), minlength=256)
    nonzero = hist[hist > 0]
    if nonzero.size <= 1:
        return ch.copy()
    step = (int(nonzero.sum()) - int(nonzero[-1])) // 255
    if step == 0:
        return ch.copy()
    # PIL's lookup table (torchvision uses the same): lut[i] = (step // 2 + cumsum before i) // step
    lut = (step // 2 + np.concatenate([[0], np.cumsum(hist)[:-1]])) // step
    return np.clip(lut, 0, 255).astype(np.uint8)[ch]


def equalize(img: Any) -> Any:
    """Histogram equalisation per channel (PIL's/torchvision's lookup table; floats go through uint8).


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Example:
        >>> import numpy as np
        >>> img = np.repeat(np.array([10, 20, 30, 40], np.uint8), [200, 200, 100, 100]).reshape(1, 600)
        >>> np.unique(equalize(img)).tolist()
        [0, 200, 255]
    """

    def kernel(chw: np.ndarray) -> np.ndarray:
        u8 = chw if chw.dtype == np.uint8 else _from_float01(_to_float01(chw), np.dtype(np.uint8))
        out = np.stack([_equalize_channel(c) for c in u8])
        if chw.dtype == np.uint8:
            return out
        return out.astype(np.float32) / 255.0 if _is_float(chw) else out.astype(chw.dtype)

    return _apply(img, "equalize", kernel)


# ---------------------------------------------------------------------------------------------------- blur


def _gaussian_kernel1d(kernel_size: int, sigma: float) -> np.ndarray:
    lim = (kernel_size - 1) / (2.0 * math.sqrt(2.0))
    x = np.linspace(-lim, lim, kernel_size, dtype=np.float32)
    e = np.exp(-((x / np.float32(sigma)) ** 2) - np.max(-((x / np.float32(sigma)) ** 2)))
    return (e / e.sum()).astype(np.float32)


def gaussian_blur(
    img: Any, kernel_size: int | Sequence[int], sigma: float | Sequence[float] | None = None
) -> Any:
    """Gaussian blur with reflect padding; ``kernel_size``/``sigma`` are ``(x, y)`` like torchvision.

    ``sigma=None`` uses ``0.3 * ((k - 1) * 0.5 - 1) + 0.8`` (= ``0.15 k + 0.35``), torchvision's default.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      kernel_size: odd positive sizes ``(x, y)``, or one int for both.
      sigma: standard deviations ``(x, y)`` (> 0), one float, or ``None`` for torchvision's default.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: an even or non-positive kernel size (or one larger than the image), or a non-positive
        sigma.

    Example:
        >>> import numpy as np
        >>> gaussian_blur(np.full((4, 4), 9, np.uint8), 3, 1.0).tolist()[0]
        [9, 9, 9, 9]
    """
    ks = (
        [int(kernel_size)] * 2
        if isinstance(kernel_size, (int, numbers.Integral))
        else [int(k) for k in kernel_size]
    )
    if len(ks) == 1:
        ks = ks * 2
    if len(ks) != 2 or any(k <= 0 or k % 2 == 0 for k in ks):
        raise ConfigError(
            "torsh.vision.transforms.gaussian_blur: kernel_size must be odd and positive ints, got "
            f"{kernel_size!r}"
        )
    if sigma is None:
        sig = [k * 0.15 + 0.35 for k in ks]
    elif isinstance(sigma, (float, numbers.Real)):
        sig = [float(sigma)] * 2
    else:
        sig = [float(s) for s in sigma]
        sig = sig * 2 if len(sig) == 1 else sig
    if len(sig) != 2 or any(s <= 0 for s in sig):
        raise ConfigError(f"torsh.vision.transforms.gaussian_blur: sigma must be positive, got {sigma!r}")
    kx, ky = _gaussian_kernel1d(ks[0], sig[0]), _gaussian_kernel1d(ks[1], sig[1])
    k2 = ky[:, None] * kx[None, :]

    def kernel(chw: np.ndarray) -> np.ndarray:
        if chw.size == 0:
            return chw.copy()
        fp = _is_float(chw)
        x = chw if fp else chw.astype(np.float32)
        px, py = ks[0] // 2, ks[1] // 2
        if py >= chw.shape[1] or px >= chw.shape[2]:
            raise ConfigError(
                f"torsh.vision.transforms.gaussian_blur: kernel_size {ks} is too large for an image of size "
                f"{chw.shape[1:]} (reflect padding needs kernel_size // 2 < size)"
            )
        padded = np.pad(x, ((0, 0), (py, py), (px, px)), mode="reflect")
        h, w = chw.shape[1:]
        out = np.zeros_like(x, dtype=x.dtype)
        k2c = k2.astype(x.dtype)
        for dy in range(ks[1]):
            for dx in range(ks[0]):
                out += padded[:, dy : dy + h, dx : dx + w] * k2c[dy, dx]
        return out if fp else np.round(out).astype(chw.dtype)

    return _apply(img, "gaussian_blur", kernel)


# ------------------------------------------------------------------------------------------- rotate / affine


def _inverse_affine_matrix(
    center: Sequence[float], angle: float, translate: Sequence[float], scale: float, shear: Sequence[float]
) -> list[float]:
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    cos_sy = math.cos(sy)
    tan_sx = math.tan(sx)
    a = math.cos(rot - sy) / cos_sy
    b = -(a * tan_sx + math.sin(rot))
    c = math.sin(rot - sy) / cos_sy
    d = math.cos(rot) - c * tan_sx
    m = [d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0]
    m[2] += cx - m[0] * (cx + tx) - m[1] * (cy + ty)
    m[5] += cy - m[3] * (cx + tx) - m[4] * (cy + ty)
    return m


def _affine_output_size(matrix: Sequence[float], w: int, h: int) -> tuple[int, int]:
    half_w, half_h = 0.5 * w, 0.5 * h
    pts = np.array(
        [[-half_w, -half_h, 1.0], [-half_w, half_h, 1.0], [half_w, half_h, 1.0], [half_w, -half_h, 1.0]],
        np.float32,
    )
    new = pts @ np.asarray(matrix, np.float32).reshape(2, 3).T
    lo, hi = (
        new.min(0) + np.array([half_w, half_h], np.float32),
        new.max(0) + np.array([half_w, half_h], np.float32),
    )
    tol = 1e-4
    cmax = np.ceil(np.trunc(hi / tol) * tol)
    cmin = np.floor(np.trunc(lo / tol) * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def _grid_transform(
    chw: np.ndarray, matrix: Sequence[float], oh: int, ow: int, mode: str, fill: Any
) -> np.ndarray:
    """torchvision's affine grid + ``grid_sample(align_corners=False, padding_mode="zeros")``, in float32."""
    c, h, w = chw.shape
    theta = np.asarray(matrix, np.float32).reshape(2, 3)
    xs = np.linspace((1.0 - ow) * 0.5, (ow - 1.0) * 0.5, ow, dtype=np.float32)
    ys = np.linspace((1.0 - oh) * 0.5, (oh - 1.0) * 0.5, oh, dtype=np.float32)
    base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], np.float32(1.0)), axis=-1).astype(
        np.float32
    )
    rescaled = (theta.T / np.array([0.5 * w, 0.5 * h], np.float32)).astype(np.float32)
    grid = base.reshape(-1, 3) @ rescaled
    ix = ((grid[:, 0] + np.float32(1)) * np.float32(w) - np.float32(1)) / np.float32(2)
    iy = ((grid[:, 1] + np.float32(1)) * np.float32(h) - np.float32(1)) / np.float32(2)
    fp = _is_float(chw)
    x = chw.astype(np.float32) if not fp else chw
    if fill is not None:
        x = np.concatenate([x, np.ones((1, h, w), x.dtype)], axis=0)
    # pixel-major (N, C): gathering whole pixels is several times faster than per-channel fancy indexing
    flat = np.ascontiguousarray(x.reshape(x.shape[0], -1).T)

    def gather(yy: np.ndarray, xx: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        valid = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
        idx = np.where(valid, np.clip(yy, 0, h - 1) * w + np.clip(xx, 0, w - 1), 0)
        scale = valid.astype(x.dtype) if weight is None else np.where(valid, weight, 0).astype(x.dtype)
        return flat[idx] * scale[:, None]

    if mode == "nearest":
        out = gather(np.rint(iy).astype(np.int64), np.rint(ix).astype(np.int64))
    else:
        x0, y0 = np.floor(ix), np.floor(iy)
        wx1, wy1 = ix - x0, iy - y0
        wx0, wy0 = np.float32(1) - wx1, np.float32(1) - wy1
        x0i, y0i = x0.astype(np.int64), y0.astype(np.int64)
        out = gather(y0i, x0i, wx0 * wy0)
        out += gather(y0i, x0i + 1, wx1 * wy0)
        out += gather(y0i + 1, x0i, wx0 * wy1)
        out += gather(y0i + 1, x0i + 1, wx1 * wy1)
    out = np.ascontiguousarray(out.T).reshape(x.shape[0], oh, ow).astype(x.dtype)
    if fill is not None:
        out, mask = out[:-1], out[-1:]
        fills = np.asarray(fill, dtype=out.dtype).reshape(-1)
        if fills.size not in (1, c):
            raise ConfigError(
                f"torsh.vision.transforms: fill has {fills.size} values for an image with {c} channels"
            )
        fill_img = np.broadcast_to(fills.reshape(-1, 1, 1), out.shape).astype(out.dtype)
        if mode == "nearest":
            out = np.where(mask < 0.5, fill_img, out)
        else:
            out = (out - fill_img) * mask + fill_img
    return out.astype(chw.dtype) if fp else np.round(out).astype(chw.dtype)


def _check_center(center: Sequence[float] | None, where: str) -> None:
    if center is not None and (not isinstance(center, (list, tuple)) or len(center) != 2):
        raise ConfigError(f"torsh.vision.transforms.{where}: center must be (x, y) in pixels, got {center!r}")


def rotate(
    img: Any,
    angle: float,
    interpolation: InterpolationMode | str = InterpolationMode.NEAREST,
    expand: bool = False,
    center: Sequence[float] | None = None,
    fill: float | Sequence[float] | None = None,
) -> Any:
    """Rotate counter-clockwise by ``angle`` degrees about ``center`` (default: the image centre).

    ``expand=True`` grows the output to hold the whole rotated image. Areas from outside the image are
    ``fill`` (``None``: zeros, with bilinear blending toward them at the border as torchvision).


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      angle: degrees, counter-clockwise.
      interpolation: ``nearest`` or ``bilinear``.
      expand: grow the output to hold the whole rotated image.
      center: the rotation centre ``(x, y)`` in pixels.
      fill: the value of areas from outside the image.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: an unknown interpolation.

    Example:
        >>> import numpy as np
        >>> rotate(np.array([[1, 2], [3, 4]], np.uint8), 90).tolist()
        [[2, 4], [1, 3]]
    """
    mode = _interp(interpolation, "rotate", ("nearest", "bilinear"))
    _check_center(center, "rotate")
    angle = float(angle) % 360

    def kernel(chw: np.ndarray) -> np.ndarray:
        _, h, w = chw.shape
        if center is None:
            if angle == 0:
                return chw.copy()
            if angle == 180:
                return np.rot90(chw, 2, axes=(1, 2)).copy()
            if expand or h == w:
                if angle == 90:
                    return np.rot90(chw, 1, axes=(1, 2)).copy()
                if angle == 270:
                    return np.rot90(chw, 3, axes=(1, 2)).copy()
        center_f = (
            [0.0, 0.0]
            if center is None
            else [float(c) - s * 0.5 for c, s in zip(center, (w, h), strict=True)]
        )
        matrix = _inverse_affine_matrix(center_f, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
        ow, oh = _affine_output_size(matrix, w, h) if expand else (w, h)
        return _grid_transform(chw, matrix, oh, ow, mode, fill)

    return _apply(img, "rotate", kernel)


def affine(
    img: Any,
    angle: float,
    translate: Sequence[float],
    scale: float,
    shear: float | Sequence[float],
    interpolation: InterpolationMode | str = InterpolationMode.NEAREST,
    fill: float | Sequence[float] | None = None,
    center: Sequence[float] | None = None,
) -> Any:
    """Rotation by ``angle``, ``translate`` (pixels), ``scale`` and ``shear`` (degrees), about ``center``.


    Args:
      img: an image: an ``(H, W, C)`` or ``(H, W)`` array (any dtype) or a PIL image.
      angle: rotation in degrees.
      translate: ``(dx, dy)`` in pixels.
      scale: the scale factor (> 0).
      shear: degrees, one value or ``(x, y)``.
      interpolation: ``nearest`` or ``bilinear``.
      fill: the value of areas from outside the image.
      center: the centre ``(x, y)`` in pixels.

    Returns:
      The result, of the input's kind (an array of the input's dtype, or a PIL image).

    Raises:
      ConfigError: a non-positive scale, malformed translate/shear, or an unknown interpolation.

    Example:
        >>> import numpy as np
        >>> affine(np.array([[1, 2, 3]], np.uint8), 0.0, [1, 0], 1.0, [0.0, 0.0]).tolist()
        [[0, 1, 2]]
    """
    mode = _interp(interpolation, "affine", ("nearest", "bilinear"))
    _check_center(center, "affine")
    if scale <= 0:
        raise ConfigError(f"torsh.vision.transforms.affine: scale must be positive, got {scale}")
    if len(translate) != 2:
        raise ConfigError(f"torsh.vision.transforms.affine: translate must have 2 values, got {translate!r}")
    shear_l = [float(shear), 0.0] if isinstance(shear, (float, numbers.Real)) else [float(s) for s in shear]
    if len(shear_l) == 1:
        shear_l = shear_l * 2
    if len(shear_l) != 2:
        raise ConfigError(f"torsh.vision.transforms.affine: shear must have 1 or 2 values, got {shear!r}")

    def kernel(chw: np.ndarray) -> np.ndarray:
        _, h, w = chw.shape
        center_f = (
            [0.0, 0.0]
            if center is None
            else [float(c) - s * 0.5 for c, s in zip(center, (w, h), strict=True)]
        )
        matrix = _inverse_affine_matrix(
            center_f, float(angle), [float(t) for t in translate], float(scale), shear_l
        )
        return _grid_transform(chw, matrix, h, w, mode, fill)

    return _apply(img, "affine", kernel)


def erase(img: Any, i: int, j: int, h: int, w: int, v: Any, inplace: bool = False) -> np.ndarray:
    """Set the ``h x w`` window at ``(i, j)`` of a ``(..., C, H, W)`` array to ``v`` (RandomErasing's kernel).


    Args:
      img: a ``(..., C, H, W)`` array.
      i: the window's top row.
      j: the window's left column.
      h: the window's height.
      w: the window's width.
      v: the value (broadcast to the window).
      inplace: accepted for torchvision's signature; the input is never modified.

    Returns:
      A new array with the window set to ``v``.

    Raises:
      ShapeError: an array with fewer than 3 dimensions.

    Example:
        >>> import numpy as np
        >>> erase(np.ones((1, 2, 3), np.float32), 0, 1, 2, 1, 0.0)[0].tolist()
        [[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]
    """
    arr = np.asarray(img)
    if arr.ndim < 3:
        raise ShapeError(
            f"torsh.vision.transforms.erase: expected a (..., C, H, W) array, got shape {arr.shape}"
        )
    out = arr if (inplace and arr.flags.writeable) else arr.copy()
    out[..., i : i + h, j : j + w] = v
    return out
