"""Host-side transform classes (``torchvision.transforms.v2``'s names, arguments and defaults).

Randomness: a transform called as ``t(img)`` draws from :func:`torsh.data.rng`, the generator the
torsh :class:`~torsh.data.DataLoader` seeds for every batch from ``(seed, epoch, batch index)``; so
augmentations are reproducible and the same for any ``num_workers``. Outside a loader, pass
``generator=`` (a ``numpy.random.Generator``, or an int seed) for reproducible results, or let it
fall back to a generator seeded from OS entropy. :class:`Compose` hands one generator to its children.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import ConfigError, ShapeError
from . import functional as F
from .functional import InterpolationMode

__all__ = [
    "Transform",
    "Compose",
    "RandomApply",
    "ToArray",
    "Normalize",
    "Resize",
    "CenterCrop",
    "Pad",
    "RandomCrop",
    "RandomResizedCrop",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "ColorJitter",
    "RandomRotation",
    "RandomErasing",
    "Grayscale",
    "RandomGrayscale",
    "GaussianBlur",
    "TrivialAugmentWide",
    "RandAugment",
]

Generator = np.random.Generator


def _resolve(generator: Generator | int | None) -> Generator:
    if generator is None:
        from ...data import rng

        return rng()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, numbers.Integral):
        return np.random.default_rng(int(generator))
    raise ConfigError(
        f"torsh.vision.transforms: generator must be a numpy.random.Generator, an int seed or None, "
        f"got {type(generator).__name__}"
    )


def _size_pair(size: int | Sequence[int], name: str, where: str) -> tuple[int, int]:
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if (
        isinstance(size, (list, tuple))
        and len(size) in (1, 2)
        and all(isinstance(s, numbers.Integral) for s in size)
    ):
        return int(size[0]), int(size[-1])
    raise ConfigError(f"torsh.vision.transforms.{where}: {name} must be an int or (h, w), got {size!r}")


def _check_p(p: float, where: str) -> float:
    if not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"torsh.vision.transforms.{where}: p must be a probability in [0, 1], got {p}")
    return float(p)


class Transform:
    """Base class: subclasses implement ``forward(img, generator)``; call as ``t(img, generator=None)``.

    ``generator`` is a ``numpy.random.Generator``, an int seed, or ``None`` (the ``torsh.manual_seed``
    stream); deterministic transforms ignore it.

    Raises:
      ConfigError: (when called) a ``generator`` that is neither a Generator, an int nor ``None``.

    Example:
      >>> import numpy as np
      >>> from torsh.vision import transforms as T
      >>> class Invert(T.Transform):
      ...     def forward(self, img, generator):
      ...         return 255 - img
      >>> Invert()(np.zeros((1, 2), np.uint8)).tolist()
      [[255, 255]]
    """

    def __call__(self, img: Any, *, generator: Generator | int | None = None) -> Any:
        # every transform gets a Generator (deterministic ones ignore it): one typed signature
        return self.forward(img, _resolve(generator))

    def forward(self, img: Any, generator: Generator) -> Any:
        raise NotImplementedError

    def extra_repr(self) -> str:
        """The arguments shown by ``repr`` (public attributes by default).

        Returns:
          ``"name=value, ..."``.

        Example:
          >>> from torsh.vision import transforms as T
          >>> T.RandomHorizontalFlip(p=0.25).extra_repr()
          'p=0.25'
        """
        return ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def _call(t: Callable[..., Any], img: Any, generator: Generator) -> Any:
    return t.forward(img, generator) if isinstance(t, Transform) else t(img)


class Compose(Transform):
    """Apply transforms in order, all drawing from one generator.


    Args:
      transforms: transforms or any callables ``img -> img``.

    Raises:
      ConfigError: an element that is not callable.

    Example:
        >>> import numpy as np
        >>> from torsh.vision import transforms as T
        >>> t = T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip(), T.ToArray()])
        >>> img = np.zeros((6, 6, 3), np.uint8)
        >>> t(img, generator=0).shape
        (3, 4, 4)
    """

    def __init__(self, transforms: Sequence[Callable[..., Any]]) -> None:
        for i, t in enumerate(transforms):
            if not callable(t):
                raise ConfigError(f"torsh.vision.transforms.Compose: transforms[{i}] is not callable: {t!r}")
        self.transforms = list(transforms)

    def forward(self, img: Any, generator: Generator) -> Any:
        for t in self.transforms:
            img = _call(t, img, generator)
        return img

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class RandomApply(Transform):
    """Apply all ``transforms`` with probability ``p``.


    Args:
      transforms: applied in order, all or none.
      p: the probability, in [0, 1].

    Raises:
      ConfigError: a non-callable transform or ``p`` outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from torsh.vision import transforms as T
        >>> T.RandomApply([T.Grayscale()], p=0.0)(np.zeros((2, 2, 3), np.uint8), generator=0).shape
        (2, 2, 3)
    """

    def __init__(self, transforms: Sequence[Callable[..., Any]], p: float = 0.5) -> None:
        self.transforms = Compose(transforms)
        self.p = _check_p(p, "RandomApply")

    def forward(self, img: Any, generator: Generator) -> Any:
        if generator.random() >= self.p:
            return img
        return self.transforms.forward(img, generator)


class ToArray(Transform):
    """``(H, W, C)`` ``uint8`` image or PIL image -> ``(C, H, W)`` float32 in [0, 1] (``ToTensor``).

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import ToArray
        >>> ToArray()(np.full((2, 2, 3), 255, np.uint8)).max()
        np.float32(1.0)
    """

    def forward(self, img: Any, generator: Generator) -> Any:
        return F.to_array(img)


class Normalize(Transform):
    """``(x - mean) / std`` per channel of a ``(C, H, W)`` float array (after :class:`ToArray`).


    Args:
      mean: one mean per channel.
      std: one standard deviation per channel.
      inplace: accepted for torchvision's signature; arrays are never modified in place.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import Normalize
        >>> Normalize([0.5], [0.25])(np.ones((1, 1, 1), np.float32)).item()
        2.0
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = list(mean)
        self.std = list(std)
        self.inplace = inplace

    def forward(self, img: Any, generator: Generator) -> Any:
        return F.normalize(img, self.mean, self.std, self.inplace)


class Resize(Transform):
    """Resize to ``size`` (``(h, w)`` or the smaller edge); see :func:`functional.resize`.


    Args:
      size: ``(h, w)``, or an int for the smaller edge.
      interpolation: an :class:`InterpolationMode` or its name.
      max_size: bound of the longer edge when ``size`` is an int.
      antialias: as in :func:`functional.resize`.

    Raises:
      ConfigError: a malformed size or an unknown interpolation.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import Resize
        >>> Resize(4)(np.zeros((8, 16, 3), np.uint8)).shape
        (4, 8, 3)
    """

    def __init__(
        self,
        size: int | Sequence[int] | None,
        interpolation: InterpolationMode | str = InterpolationMode.BILINEAR,
        max_size: int | None = None,
        antialias: bool | None = True,
    ) -> None:
        F._interp(interpolation, "Resize")
        self.size = size
        self.interpolation = interpolation
        self.max_size = max_size
        self.antialias = antialias

    def forward(self, img: Any, generator: Generator) -> Any:
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias)


class CenterCrop(Transform):
    """The central ``size`` window (zero-padded if the image is smaller).


    Args:
      size: ``(h, w)`` or an int for a square.

    Raises:
      ConfigError: a malformed ``size``.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import CenterCrop
        >>> CenterCrop((2, 3))(np.zeros((5, 5), np.uint8)).shape
        (2, 3)
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _size_pair(size, "size", "CenterCrop")

    def forward(self, img: Any, generator: Generator) -> Any:
        return F.center_crop(img, self.size)


class Pad(Transform):
    """Pad the borders (see :func:`functional.pad`).


    Args:
      padding: an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
      fill: the constant for ``padding_mode="constant"``.
      padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``.

    Raises:
      ConfigError: malformed padding or an unknown mode.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import Pad
        >>> Pad([1, 2])(np.zeros((2, 2), np.uint8)).shape
        (6, 4)
    """

    def __init__(
        self, padding: int | Sequence[int], fill: float | Sequence[float] = 0, padding_mode: str = "constant"
    ) -> None:
        F._parse_padding(padding, "Pad")
        if padding_mode not in F._PAD_MODES:
            raise ConfigError(f"torsh.vision.transforms.Pad: unknown padding_mode {padding_mode!r}")
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def forward(self, img: Any, generator: Generator) -> Any:
        return F.pad(img, self.padding, self.fill, self.padding_mode)


class RandomCrop(Transform):
    """A random ``size`` window, after optional ``padding`` (torchvision's parameters and order).

    ``pad_if_needed`` pads images smaller than ``size`` (by the shortfall on both sides, as torchvision).


    Args:
      size: ``(h, w)`` or an int for a square.
      padding: padding applied first (as :class:`Pad`), or ``None``.
      pad_if_needed: pad images smaller than ``size``.
      fill: the constant for ``padding_mode="constant"``.
      padding_mode: as :class:`Pad`.

    Raises:
      ConfigError: a malformed size or padding, or an unknown mode.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import RandomCrop
        >>> crop = RandomCrop(32, padding=4, padding_mode="reflect")
        >>> crop(np.zeros((32, 32, 3), np.uint8), generator=0).shape
        (32, 32, 3)
    """

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int | Sequence[int] | None = None,
        pad_if_needed: bool = False,
        fill: float | Sequence[float] = 0,
        padding_mode: str = "constant",
    ) -> None:
        self.size = _size_pair(size, "size", "RandomCrop")
        self.padding = F._parse_padding(padding, "RandomCrop") if padding else None
        if padding_mode not in F._PAD_MODES:
            raise ConfigError(f"torsh.vision.transforms.RandomCrop: unknown padding_mode {padding_mode!r}")
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def get_params(self, img: Any, generator: Generator) -> dict[str, Any]:
        """The padding and the crop's position drawn for ``img``.

        Args:
          img: the image (before padding).
          generator: a ``numpy.random.Generator``.

        Returns:
          ``{"padding": [left, top, right, bottom], "top": i, "left": j}``.

        Raises:
          ShapeError: the (padded) image is smaller than ``size``.

        Example:
          >>> import numpy as np
          >>> from torsh.vision import transforms as T
          >>> T.RandomCrop(2).get_params(np.zeros((3, 3)), np.random.default_rng(0))["padding"]
          [0, 0, 0, 0]
        """
        h, w = F.get_size(img)
        left, top, right, bottom = self.padding if self.padding is not None else (0, 0, 0, 0)
        h, w = h + top + bottom, w + left + right
        ch, cw = self.size
        if self.pad_if_needed:
            if h < ch:
                diff = ch - h
                top, bottom, h = top + diff, bottom + diff, h + 2 * diff
            if w < cw:
                diff = cw - w
                left, right, w = left + diff, right + diff, w + 2 * diff
        if h < ch or w < cw:
            raise ShapeError(
                f"torsh.vision.transforms.RandomCrop: required crop size {(ch, cw)} is larger than the "
                f"{'padded ' if self.padding is not None else ''}input image size {(h, w)}"
            )
        i = int(generator.integers(0, h - ch + 1)) if h > ch else 0
        j = int(generator.integers(0, w - cw + 1)) if w > cw else 0
        return {"padding": [left, top, right, bottom], "top": i, "left": j}

    def forward(self, img: Any, generator: Generator) -> Any:
        params = self.get_params(img, generator)
        if any(params["padding"]):
            img = F.pad(img, params["padding"], self.fill, self.padding_mode)
        h, w = F.get_size(img)
        if (h, w) != self.size:
            img = F.crop(img, params["top"], params["left"], *self.size)
        return img


class RandomResizedCrop(Transform):
    """A random crop of random area (``scale``) and aspect ratio (``ratio``), resized to ``size``.

    10 attempts as torchvision, then a central crop clamped to ``ratio``.


    Args:
      size: the output ``(h, w)`` or an int.
      scale: the crop's area range, as a fraction of the image.
      ratio: the crop's aspect-ratio range.
      interpolation: an :class:`InterpolationMode` or its name.
      antialias: as in :func:`functional.resize`.

    Raises:
      ConfigError: a malformed size, decreasing ranges or an unknown interpolation.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import RandomResizedCrop
        >>> RandomResizedCrop(8)(np.zeros((20, 30, 3), np.uint8), generator=1).shape
        (8, 8, 3)
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        interpolation: InterpolationMode | str = InterpolationMode.BILINEAR,
        antialias: bool | None = True,
    ) -> None:
        self.size = _size_pair(size, "size", "RandomResizedCrop")
        if (
            len(scale) != 2
            or len(ratio) != 2
            or scale[0] > scale[1]
            or ratio[0] > ratio[1]
            or min(ratio) <= 0
        ):
            raise ConfigError(
                "torsh.vision.transforms.RandomResizedCrop: scale and ratio must be increasing "
                "(min, max) pairs "
                f"with ratio > 0, got scale={scale!r}, ratio={ratio!r}"
            )
        F._interp(interpolation, "RandomResizedCrop")
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.interpolation = interpolation
        self.antialias = antialias

    def get_params(self, img: Any, generator: Generator) -> tuple[int, int, int, int]:
        """``(top, left, height, width)`` of the crop.

        Args:
          img: the image.
          generator: a ``numpy.random.Generator``.

        Returns:
          The crop window (the central crop of the clamped ratio when 10 draws do not fit).

        Example:
          >>> import numpy as np
          >>> from torsh.vision import transforms as T
          >>> T.RandomResizedCrop(4, scale=(1.0, 1.0), ratio=(1.0, 1.0)).get_params(
          ...     np.zeros((8, 8)), np.random.default_rng(0))
          (0, 0, 8, 8)
        """
        height, width = F.get_size(img)
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * generator.uniform(self.scale[0], self.scale[1])
            aspect_ratio = math.exp(generator.uniform(log_ratio[0], log_ratio[1]))
            w = int(round(math.sqrt(target_area * aspect_ratio)))
            h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < w <= width and 0 < h <= height:
                i = int(generator.integers(0, height - h + 1))
                j = int(generator.integers(0, width - w + 1))
                return i, j, h, w
        in_ratio = float(width) / float(height)
        if in_ratio < min(self.ratio):
            w = width
            h = int(round(w / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            h = height
            w = int(round(h * max(self.ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def forward(self, img: Any, generator: Generator) -> Any:
        i, j, h, w = self.get_params(img, generator)
        return F.resized_crop(img, i, j, h, w, list(self.size), self.interpolation, self.antialias)


class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p``.


    Args:
      p: the probability, in [0, 1].

    Raises:
      ConfigError: ``p`` outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import RandomHorizontalFlip
        >>> RandomHorizontalFlip(p=1.0)(np.array([[1, 2]], np.uint8)).tolist()
        [[2, 1]]
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = _check_p(p, "RandomHorizontalFlip")

    def forward(self, img: Any, generator: Generator) -> Any:
        return F.hflip(img) if generator.random() < self.p else img


class RandomVerticalFlip(Transform):
    """Mirror top-bottom with probability ``p``.


    Args:
      p: the probability, in [0, 1].

    Raises:
      ConfigError: ``p`` outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import RandomVerticalFlip
        >>> RandomVerticalFlip(p=0.0)(np.array([[1], [2]], np.uint8)).tolist()
        [[1], [2]]
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = _check_p(p, "RandomVerticalFlip")

    def forward(self, img: Any, generator: Generator) -> Any:
        return F.vflip(img) if generator.random() < self.p else img


def _jitter_range(
    value: float | Sequence[float] | None,
    name: str,
    center: float = 1.0,
    bound: tuple[float, float] = (0, math.inf),
    clip_first_on_zero: bool = True,
) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, numbers.Real):
        if value < 0:
            raise ConfigError(f"torsh.vision.transforms.ColorJitter: {name}={value} must be non-negative")
        lo, hi = center - float(value), center + float(value)
        if clip_first_on_zero:
            lo = max(lo, 0.0)
    elif isinstance(value, Sequence) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ConfigError(
            f"torsh.vision.transforms.ColorJitter: {name}={value!r} must be a number or a (min, max) pair"
        )
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ConfigError(
            f"torsh.vision.transforms.ColorJitter: {name} values must be increasing and within "
            f"{bound}, got {(lo, hi)}"
        )
    return None if lo == hi == center else (lo, hi)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue changes, applied in a random order (as torchvision).


    Args:
      brightness: a factor range ``(min, max)``, or ``b`` for ``(max(0, 1 - b), 1 + b)``; ``None`` skips it.
      contrast: as ``brightness``.
      saturation: as ``brightness``.
      hue: ``h`` for ``(-h, h)`` or ``(min, max)``, within [-0.5, 0.5].

    Raises:
      ConfigError: negative values or ranges outside the allowed bounds.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import ColorJitter
        >>> ColorJitter(0.4, 0.4, 0.4, 0.1)(np.full((2, 2, 3), 100, np.uint8), generator=0).dtype
        dtype('uint8')
    """

    def __init__(
        self,
        brightness: float | Sequence[float] | None = None,
        contrast: float | Sequence[float] | None = None,
        saturation: float | Sequence[float] | None = None,
        hue: float | Sequence[float] | None = None,
    ) -> None:
        self.brightness = _jitter_range(brightness, "brightness")
        self.contrast = _jitter_range(contrast, "contrast")
        self.saturation = _jitter_range(saturation, "saturation")
        self.hue = _jitter_range(hue, "hue", center=0, bound=(-0.5, 0.5), clip_first_on_zero=False)

    def forward(self, img: Any, generator: Generator) -> Any:
        g = generator
        order = g.permutation(4)
        factors = [
            None if r is None else float(g.uniform(r[0], r[1]))
            for r in (self.brightness, self.contrast, self.saturation, self.hue)
        ]
        fns = (F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue)
        for k in order:
            if factors[k] is not None:
                img = fns[k](img, factors[k])
        return img


class RandomRotation(Transform):
    """Rotate by an angle drawn uniformly from ``degrees`` (``d`` means ``(-d, d)``).


    Args:
      degrees: ``d`` for ``(-d, d)``, or ``(min, max)``.
      interpolation: an :class:`InterpolationMode` or its name.
      expand: grow the output to hold the whole rotated image.
      center: the centre ``(x, y)`` in pixels (default: the image centre).
      fill: the value of areas from outside the image (``None``: zeros).

    Raises:
      ConfigError: negative ``d``, a malformed range or an unknown interpolation.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import RandomRotation
        >>> RandomRotation(30)(np.zeros((5, 7, 3), np.uint8), generator=0).shape
        (5, 7, 3)
    """

    def __init__(
        self,
        degrees: float | Sequence[float],
        interpolation: InterpolationMode | str = InterpolationMode.NEAREST,
        expand: bool = False,
        center: Sequence[float] | None = None,
        fill: float | Sequence[float] = 0,
    ) -> None:
        if isinstance(degrees, numbers.Real):
            if degrees < 0:
                raise ConfigError(
                    f"torsh.vision.transforms.RandomRotation: degrees={degrees} must be non-negative"
                )
            self.degrees = (-float(degrees), float(degrees))
        elif isinstance(degrees, Sequence) and len(degrees) == 2:
            self.degrees = (float(degrees[0]), float(degrees[1]))
        else:
            raise ConfigError(
                f"torsh.vision.transforms.RandomRotation: degrees must be a number or a pair, got {degrees!r}"
            )
        F._interp(interpolation, "RandomRotation", ("nearest", "bilinear"))
        self.interpolation = interpolation
        self.expand = expand
        self.center = center
        self.fill = fill

    def forward(self, img: Any, generator: Generator) -> Any:
        angle = float(generator.uniform(self.degrees[0], self.degrees[1]))
        return F.rotate(img, angle, self.interpolation, self.expand, self.center, self.fill)


class RandomErasing(Transform):
    """Erase a random rectangle of a ``(C, H, W)`` array with probability ``p`` (after :class:`ToArray`).

    ``value`` is a number, a per-channel sequence, or ``"random"`` (standard normal noise).


    Args:
      p: the probability, in [0, 1].
      scale: the erased area's range, as a fraction of the image.
      ratio: the rectangle's aspect-ratio range.
      value: a number, one per channel, or ``"random"`` (normal noise).
      inplace: accepted for torchvision's signature; arrays are never modified in place.

    Raises:
      ConfigError: ``p`` outside [0, 1], bad ``scale``/``ratio`` ranges or a bad ``value``.
      ShapeError: (when called) an input that is not a ``(..., C, H, W)`` array.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import RandomErasing
        >>> out = RandomErasing(p=1.0, value=0.0)(np.ones((3, 16, 16), np.float32), generator=0)
        >>> bool((out == 0).any() and (out == 1).any())
        True
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: tuple[float, float] = (0.02, 0.33),
        ratio: tuple[float, float] = (0.3, 3.3),
        value: float | str | Sequence[float] = 0.0,
        inplace: bool = False,
    ) -> None:
        self.p = _check_p(p, "RandomErasing")
        if isinstance(value, str) and value != "random":
            raise ConfigError(
                f"torsh.vision.transforms.RandomErasing: a string value must be 'random', got {value!r}"
            )
        if not 0 <= scale[0] <= scale[1] <= 1 or not 0 < ratio[0] <= ratio[1]:
            raise ConfigError(
                f"torsh.vision.transforms.RandomErasing: need 0 <= scale[0] <= scale[1] <= 1 and "
                f"0 < ratio[0] <= ratio[1], got scale={scale!r}, ratio={ratio!r}"
            )
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.value = None if isinstance(value, str) else [float(v) for v in np.atleast_1d(value)]
        self.inplace = inplace

    def get_params(self, img: np.ndarray, generator: Generator) -> tuple[int, int, int, int, Any]:
        """``(i, j, h, w, v)``; ``v`` is ``None`` when no attempt fitted (the image is left unchanged).

        Args:
          img: a ``(..., C, H, W)`` array.
          generator: a ``numpy.random.Generator``.

        Returns:
          The window and the values to write.

        Raises:
          ShapeError: ``value`` has neither 1 nor ``C`` entries.

        Example:
          >>> import numpy as np
          >>> from torsh.vision import transforms as T
          >>> rng = np.random.default_rng(0)
          >>> i, j, h, w, v = T.RandomErasing(value=0.5).get_params(np.zeros((1, 8, 8)), rng)
          >>> 0 < h < 8 and 0 < w < 8, float(v.ravel()[0])
          (True, 0.5)
        """
        c, img_h, img_w = img.shape[-3:]
        if self.value is not None and len(self.value) not in (1, c):
            raise ShapeError(
                f"torsh.vision.transforms.RandomErasing: value has {len(self.value)} entries for {c} channels"
            )
        area = img_h * img_w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            erase_area = area * generator.uniform(self.scale[0], self.scale[1])
            aspect_ratio = math.exp(generator.uniform(log_ratio[0], log_ratio[1]))
            h = int(round(math.sqrt(erase_area * aspect_ratio)))
            w = int(round(math.sqrt(erase_area / aspect_ratio)))
            if not (h < img_h and w < img_w):
                continue
            if self.value is None:
                v = generator.standard_normal((c, h, w)).astype(np.float32)
            else:
                v = np.asarray(self.value, np.float32)[:, None, None]
            i = int(generator.integers(0, img_h - h + 1))
            j = int(generator.integers(0, img_w - w + 1))
            return i, j, h, w, v
        return 0, 0, img_h, img_w, None

    def forward(self, img: Any, generator: Generator) -> Any:
        arr = np.asarray(img)
        if arr.ndim < 3:
            raise ShapeError(
                "torsh.vision.transforms.RandomErasing: expected a (..., C, H, W) array (use "
                "ToArray first), "
                f"got shape {arr.shape}"
            )
        if generator.random() >= self.p:
            return img
        i, j, h, w, v = self.get_params(arr, generator)
        if v is None:
            return img
        return F.erase(
            arr, i, j, h, w, v.astype(arr.dtype) if np.issubdtype(arr.dtype, np.floating) else v, self.inplace
        )


class Grayscale(Transform):
    """Convert to grey (1 or 3 output channels).


    Args:
      num_output_channels: 1 or 3.

    Raises:
      ConfigError: another channel count.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import Grayscale
        >>> Grayscale(3)(np.zeros((2, 2, 3), np.uint8)).shape
        (2, 2, 3)
    """

    def __init__(self, num_output_channels: int = 1) -> None:
        if num_output_channels not in (1, 3):
            raise ConfigError(
                "torsh.vision.transforms.Grayscale: num_output_channels must be 1 or 3, got "
                f"{num_output_channels!r}"
            )
        self.num_output_channels = num_output_channels

    def forward(self, img: Any, generator: Generator) -> Any:
        return F.rgb_to_grayscale(img, self.num_output_channels)


class RandomGrayscale(Transform):
    """Convert to grey with probability ``p``, keeping the number of channels.


    Args:
      p: the probability, in [0, 1].

    Raises:
      ConfigError: ``p`` outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import RandomGrayscale
        >>> RandomGrayscale(p=1.0)(np.zeros((2, 2, 3), np.uint8)).shape
        (2, 2, 3)
    """

    def __init__(self, p: float = 0.1) -> None:
        self.p = _check_p(p, "RandomGrayscale")

    def forward(self, img: Any, generator: Generator) -> Any:
        if generator.random() >= self.p:
            return img
        return F.rgb_to_grayscale(img, F.get_dimensions(img)[0])


class GaussianBlur(Transform):
    """Gaussian blur with ``sigma`` drawn uniformly from ``sigma=(min, max)`` (or fixed).


    Args:
      kernel_size: odd positive ``(x, y)`` sizes, or one int.
      sigma: a fixed standard deviation or a ``(min, max)`` range (> 0).

    Raises:
      ConfigError: an even or non-positive kernel size, or a bad sigma.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import GaussianBlur
        >>> GaussianBlur(3)(np.zeros((4, 4, 3), np.uint8), generator=0).shape
        (4, 4, 3)
    """

    def __init__(self, kernel_size: int | Sequence[int], sigma: float | Sequence[float] = (0.1, 2.0)) -> None:
        ks = _size_pair(kernel_size, "kernel_size", "GaussianBlur")
        if any(k <= 0 or k % 2 == 0 for k in ks):
            raise ConfigError(
                "torsh.vision.transforms.GaussianBlur: kernel_size must be odd and positive, got "
                f"{kernel_size}"
            )
        if isinstance(sigma, numbers.Real):
            if sigma <= 0:
                raise ConfigError(
                    f"torsh.vision.transforms.GaussianBlur: sigma must be positive, got {sigma}"
                )
            self.sigma = (float(sigma), float(sigma))
        elif isinstance(sigma, Sequence) and len(sigma) == 2 and 0 < sigma[0] <= sigma[1]:
            self.sigma = (float(sigma[0]), float(sigma[1]))
        else:
            raise ConfigError(
                f"torsh.vision.transforms.GaussianBlur: sigma must be positive (min, max), got {sigma!r}"
            )
        self.kernel_size = ks  # (x, y) as given, like torchvision

    def forward(self, img: Any, generator: Generator) -> Any:
        s = float(generator.uniform(self.sigma[0], self.sigma[1]))
        return F.gaussian_blur(img, list(self.kernel_size), [s, s])


def _apply_op(img: Any, op: str, magnitude: float, interpolation: Any, fill: Any) -> Any:
    """One auto-augment operation, with torchvision's parametrisation."""
    if op == "Identity":
        return img
    if op == "ShearX":
        return F.affine(
            img, 0.0, [0, 0], 1.0, [math.degrees(math.atan(magnitude)), 0.0], interpolation, fill, [0, 0]
        )
    if op == "ShearY":
        return F.affine(
            img, 0.0, [0, 0], 1.0, [0.0, math.degrees(math.atan(magnitude))], interpolation, fill, [0, 0]
        )
    if op == "TranslateX":
        return F.affine(img, 0.0, [int(magnitude), 0], 1.0, [0.0, 0.0], interpolation, fill)
    if op == "TranslateY":
        return F.affine(img, 0.0, [0, int(magnitude)], 1.0, [0.0, 0.0], interpolation, fill)
    if op == "Rotate":
        return F.rotate(img, magnitude, interpolation, fill=fill)
    if op == "Brightness":
        return F.adjust_brightness(img, 1.0 + magnitude)
    if op == "Color":
        return F.adjust_saturation(img, 1.0 + magnitude)
    if op == "Contrast":
        return F.adjust_contrast(img, 1.0 + magnitude)
    if op == "Sharpness":
        return F.adjust_sharpness(img, 1.0 + magnitude)
    if op == "Posterize":
        return F.posterize(img, int(magnitude))
    if op == "Solarize":
        dtype = np.asarray(img).dtype
        bound = float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0
        return F.solarize(img, bound * magnitude)
    if op == "AutoContrast":
        return F.autocontrast(img)
    if op == "Equalize":
        return F.equalize(img)
    raise ConfigError(f"torsh.vision.transforms: unknown augmentation {op!r}")


def _linspace(a: float, b: float, n: int) -> np.ndarray:
    return np.linspace(a, b, n, dtype=np.float32)


_Space = dict[str, tuple[Callable[[int, int, int], np.ndarray] | None, bool]]


def _augment_space(
    shear: float,
    translate: Callable[[int, int], tuple[float, float]],
    rotate: float,
    enhance: float,
    posterize_steps: int,
) -> _Space:
    """name -> (magnitudes(num_bins, height, width) or None, signed), torchvision's ``_augmentation_space``.

    ``translate(height, width)`` gives the largest X and Y translations; ``posterize_steps`` how many
    bits Posterize removes at the top magnitude.
    """

    def up_to(top: float) -> Callable[[int, int, int], np.ndarray]:
        return lambda n, h, w: _linspace(0.0, top, n)

    return {
        "Identity": (None, False),
        "ShearX": (up_to(shear), True),
        "ShearY": (up_to(shear), True),
        "TranslateX": (lambda n, h, w: _linspace(0.0, translate(h, w)[0], n), True),
        "TranslateY": (lambda n, h, w: _linspace(0.0, translate(h, w)[1], n), True),
        "Rotate": (up_to(rotate), True),
        "Brightness": (up_to(enhance), True),
        "Color": (up_to(enhance), True),
        "Contrast": (up_to(enhance), True),
        "Sharpness": (up_to(enhance), True),
        "Posterize": (
            lambda n, h, w: np.round(8 - (np.arange(n) / ((n - 1) / posterize_steps))).astype(np.int64),
            False,
        ),
        "Solarize": (lambda n, h, w: _linspace(1.0, 0.0, n), False),
        "AutoContrast": (None, False),
        "Equalize": (None, False),
    }


_TRIVIAL_SPACE = _augment_space(0.99, lambda h, w: (32.0, 32.0), 135.0, 0.99, 6)
_RAND_SPACE = _augment_space(0.3, lambda h, w: (150.0 / 331.0 * w, 150.0 / 331.0 * h), 30.0, 0.9, 4)


class TrivialAugmentWide(Transform):
    """TrivialAugment (wide space): one random operation at a random magnitude per image.

    The 14 operations, magnitude bins and signs are torchvision's; ``interpolation`` applies to the
    geometric ones, ``fill`` to the areas they uncover.


    Args:
      num_magnitude_bins: the number of magnitude bins.
      interpolation: an :class:`InterpolationMode` or its name.
      fill: the value of areas from outside the image (``None``: zeros).

    Raises:
      ConfigError: fewer than 2 bins or an unknown interpolation.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import TrivialAugmentWide
        >>> TrivialAugmentWide()(np.zeros((8, 8, 3), np.uint8), generator=0).shape
        (8, 8, 3)
    """

    _space = _TRIVIAL_SPACE

    def __init__(
        self,
        num_magnitude_bins: int = 31,
        interpolation: InterpolationMode | str = InterpolationMode.NEAREST,
        fill: float | Sequence[float] | None = None,
    ) -> None:
        if num_magnitude_bins < 2:
            raise ConfigError(
                f"torsh.vision.transforms.{type(self).__name__}: num_magnitude_bins must be >= 2"
            )
        F._interp(interpolation, type(self).__name__, ("nearest", "bilinear"))
        self.num_magnitude_bins = int(num_magnitude_bins)
        self.interpolation = interpolation
        self.fill = fill

    def _pick(
        self, generator: Generator, height: int, width: int, magnitude_index: int | None
    ) -> tuple[str, float]:
        names = list(self._space)
        op = names[int(generator.integers(len(names)))]
        fn, signed = self._space[op]
        if fn is None:
            return op, 0.0
        mags = fn(self.num_magnitude_bins, height, width)
        index = (
            int(generator.integers(self.num_magnitude_bins)) if magnitude_index is None else magnitude_index
        )
        magnitude = float(mags[index])
        if signed and generator.random() <= 0.5:
            magnitude = -magnitude
        return op, magnitude

    def forward(self, img: Any, generator: Generator) -> Any:
        h, w = F.get_size(img)
        op, magnitude = self._pick(generator, h, w, None)
        return _apply_op(img, op, magnitude, self.interpolation, self.fill)


class RandAugment(TrivialAugmentWide):
    """RandAugment: ``num_ops`` random operations at the fixed ``magnitude`` (bin index), torchvision's space.


    Args:
      num_ops: operations per image.
      magnitude: the magnitude bin, in ``[0, num_magnitude_bins)``.
      num_magnitude_bins: the number of bins.
      interpolation: an :class:`InterpolationMode` or its name.
      fill: the value of areas from outside the image (``None``: zeros).

    Raises:
      ConfigError: a negative ``num_ops``, a magnitude outside the bins, or an unknown interpolation.

    Example:
        >>> import numpy as np
        >>> from torsh.vision.transforms import RandAugment
        >>> RandAugment(num_ops=2, magnitude=9)(np.zeros((8, 8, 3), np.uint8), generator=0).shape
        (8, 8, 3)
    """

    _space = _RAND_SPACE

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: int = 9,
        num_magnitude_bins: int = 31,
        interpolation: InterpolationMode | str = InterpolationMode.NEAREST,
        fill: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__(num_magnitude_bins, interpolation, fill)
        if not isinstance(num_ops, int) or num_ops < 0:
            raise ConfigError(
                f"torsh.vision.transforms.RandAugment: num_ops must be a non-negative int, got {num_ops!r}"
            )
        if not 0 <= int(magnitude) < self.num_magnitude_bins:
            raise ConfigError(
                "torsh.vision.transforms.RandAugment: magnitude must be in [0, "
                f"{self.num_magnitude_bins}), got {magnitude}"
            )
        self.num_ops = num_ops
        self.magnitude = int(magnitude)

    def forward(self, img: Any, generator: Generator) -> Any:
        h, w = F.get_size(img)
        for _ in range(self.num_ops):
            op, magnitude = self._pick(generator, h, w, self.magnitude)
            img = _apply_op(img, op, magnitude, self.interpolation, self.fill)
        return img
