"""Grids of images: ``make_grid`` and ``save_image``, as ``torchvision.utils``.

Images are ``(C, H, W)`` (or a batch ``(B, C, H, W)``, or a list of ``(C, H, W)``) NumPy or JAX arrays;
the grid is a NumPy array with torchvision's layout, padding, normalisation and rounding.

Example:
    >>> import numpy as np
    >>> from torsh.vision.utils import make_grid
    >>> make_grid(np.ones((5, 1, 2, 2), np.float32), nrow=4, padding=1).shape
    (3, 7, 13)
"""

from __future__ import annotations

import math
import os
from typing import Any, BinaryIO

import numpy as np

from ..errors import ConfigError, DTypeError, ShapeError

__all__ = ["make_grid", "save_image"]


def _as_batch(tensor: Any) -> np.ndarray:
    if isinstance(tensor, (list, tuple)):
        if not tensor:
            raise ConfigError("torsh.vision.utils.make_grid: got an empty list of images")
        shapes = {np.shape(t) for t in tensor}
        if len(shapes) != 1:
            raise ShapeError(
                "torsh.vision.utils.make_grid: all images of the list must have one shape, got "
                f"{sorted(shapes)}"
            )
        arr = np.stack([np.asarray(t) for t in tensor])
    else:
        try:
            arr = np.asarray(tensor)
        except Exception:
            raise DTypeError(
                "torsh.vision.utils.make_grid: expected an array or a list of arrays, got "
                f"{type(tensor).__name__}"
            ) from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DTypeError(f"torsh.vision.utils.make_grid: expected numeric images, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 3:
        if arr.shape[0] == 1:
            arr = np.concatenate([arr, arr, arr], 0)
        arr = arr[None]
    if arr.ndim != 4:
        raise ShapeError(
            "torsh.vision.utils.make_grid: expected (H, W), (C, H, W) or (B, C, H, W) images, "
            f"got shape {arr.shape}"
        )
    if arr.shape[1] == 1:
        arr = np.concatenate([arr, arr, arr], 1)
    return arr


def _norm(img: np.ndarray, low: float, high: float) -> np.ndarray:
    img = np.clip(img, low, high)
    return ((img - np.asarray(low, img.dtype)) / np.asarray(max(high - low, 1e-5), img.dtype)).astype(
        img.dtype
    )


def make_grid(
    tensor: Any,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: tuple[float, float] | None = None,
    scale_each: bool = False,
    pad_value: float = 0.0,
) -> np.ndarray:
    """Tile a batch of images into one ``(C, H', W')`` image (``torchvision.utils.make_grid``).

    Single-channel images become 3-channel; ``nrow`` images per row; ``padding`` pixels of ``pad_value``
    around every image. ``normalize=True`` shifts values into [0, 1] using ``value_range`` (default: the
    min and max of the batch, or of each image with ``scale_each=True``).

    Args:
      tensor: a ``(B, C, H, W)`` array, a ``(C, H, W)`` image, or a list of ``(C, H, W)`` images.
      nrow: images per row.
      padding: pixels between and around images.
      normalize: shift values into [0, 1] (float images only).
      value_range: ``(min, max)`` for ``normalize`` (default: the data's).
      scale_each: normalise each image by its own range.
      pad_value: the padding's value.

    Returns:
      The ``(C, H', W')`` grid (the image itself for a batch of one).

    Raises:
      ConfigError: ``nrow < 1``, negative padding, a malformed ``value_range`` or an empty list.
      DTypeError: non-numeric images, or ``normalize=True`` on integers.
      ShapeError: images of different shapes, or arrays of another rank.

    Example:
        >>> import numpy as np
        >>> g = make_grid([np.zeros((1, 2, 2)), np.ones((1, 2, 2))], padding=1, pad_value=0.5)
        >>> g.shape, g[0, 1].tolist()
        ((3, 4, 7), [0.5, 0.0, 0.0, 0.5, 1.0, 1.0, 0.5])
    """
    if int(nrow) < 1:
        raise ConfigError(f"torsh.vision.utils.make_grid: nrow must be >= 1, got {nrow}")
    if int(padding) < 0:
        raise ConfigError(f"torsh.vision.utils.make_grid: padding must be >= 0, got {padding}")
    arr = _as_batch(tensor)
    if normalize:
        if value_range is not None and not (isinstance(value_range, tuple) and len(value_range) == 2):
            raise ConfigError(
                f"torsh.vision.utils.make_grid: value_range must be a tuple (min, max), got {value_range!r}"
            )
        if not np.issubdtype(arr.dtype, np.floating):
            raise DTypeError(
                f"torsh.vision.utils.make_grid: normalize=True needs float images, got {arr.dtype}"
            )

        def norm_range(t: np.ndarray) -> np.ndarray:
            if value_range is not None:
                return _norm(t, value_range[0], value_range[1])
            return _norm(t, float(t.min()), float(t.max()))

        arr = np.stack([norm_range(t) for t in arr]) if scale_each else norm_range(arr)
    if arr.shape[0] == 1:
        return arr[0].copy()
    nmaps = arr.shape[0]
    xmaps = min(int(nrow), nmaps)
    ymaps = int(math.ceil(nmaps / xmaps))
    height, width = arr.shape[2] + padding, arr.shape[3] + padding
    grid = np.full(
        (arr.shape[1], height * ymaps + padding, width * xmaps + padding), pad_value, dtype=arr.dtype
    )
    for k in range(nmaps):
        y, x = divmod(k, xmaps)
        top, left = y * height + padding, x * width + padding
        grid[:, top : top + arr.shape[2], left : left + arr.shape[3]] = arr[k]
    return grid


def save_image(
    tensor: Any,
    fp: str | os.PathLike[str] | BinaryIO,
    format: str | None = None,
    **kwargs: Any,
) -> None:
    """Save an image or a grid of a batch of images (``torchvision.utils.save_image``).

    Values are floats in [0, 1]: the grid is scaled by 255, rounded half up and clipped, as torchvision.
    ``kwargs`` go to :func:`make_grid` (``nrow``, ``padding``, ``normalize``, ...); ``format`` is the
    Pillow format when ``fp`` is a file object.

    Args:
      tensor: as in :func:`make_grid`.
      fp: a path or a binary file object.
      format: the Pillow format (needed for file objects).
      **kwargs: :func:`make_grid`'s options.

    Raises:
      ConfigError: an unknown keyword argument, or :func:`make_grid`'s errors.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from torsh.vision.io import read_image
        >>> p = os.path.join(tempfile.mkdtemp(), "g.png")
        >>> save_image(np.full((2, 3, 4, 4), 0.5, np.float32), p, padding=0)
        >>> read_image(p).shape, int(read_image(p)[0, 0, 0])
        ((3, 4, 8), 128)
    """
    from PIL import Image

    unknown = set(kwargs) - {"nrow", "padding", "normalize", "value_range", "scale_each", "pad_value"}
    if unknown:
        raise ConfigError(f"torsh.vision.utils.save_image: unexpected keyword arguments {sorted(unknown)}")
    grid = make_grid(tensor, **kwargs)
    # torchvision: grid.mul(255).add_(0.5).clamp_(0, 255) then a truncating cast, in the grid's dtype.
    ndarr = np.clip(grid * np.asarray(255, grid.dtype) + np.asarray(0.5, grid.dtype), 0, 255)
    ndarr = ndarr.transpose(1, 2, 0).astype(np.uint8)
    if ndarr.shape[2] == 1:
        ndarr = ndarr[:, :, 0]
    Image.fromarray(np.ascontiguousarray(ndarr)).save(fp, format=format)
