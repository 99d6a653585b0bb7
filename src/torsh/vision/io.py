"""Image files to arrays and back: ``read_image``, ``decode_image``, ``write_png`` (torchvision.io's names).

Decoding uses Pillow (torchvision's compiled decoders are not needed), and returns what
``torchvision.io`` returns: a ``(C, H, W)`` ``uint8`` array (``uint16`` for 16-bit PNGs), with
``mode`` converting to ``"GRAY"``, ``"GRAY_ALPHA"``, ``"RGB"`` or ``"RGBA"``. A file that is not an
image, or is truncated or corrupt, raises :class:`ImageDecodeError` (a :class:`~torsh.errors.DataError`)
naming the file.

Example:
    >>> import numpy as np, tempfile, os
    >>> from torsh.vision.io import read_image, write_png
    >>> img = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10   # CHW: 2 channels -> GRAY_ALPHA
    >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> write_png(img, path)
    >>> bool((read_image(path) == img).all()), read_image(path, mode="GRAY").shape
    (True, (1, 3, 4))
"""

from __future__ import annotations

import enum
import io as _io
import os
from typing import Any, Union

import numpy as np

from ..errors import ConfigError, DataError, DTypeError, ShapeError

__all__ = [
    "ImageReadMode",
    "ImageDecodeError",
    "read_file",
    "read_image",
    "decode_image",
    "write_png",
    "encode_png",
]

PathLike = Union[str, "os.PathLike[str]"]


class ImageDecodeError(DataError, ValueError):
    """An image file that cannot be decoded (not an image, truncated or corrupt); names the file.

    Example:
        >>> try:
        ...     decode_image(b"not an image")
        ... except ImageDecodeError as e:
        ...     print(str(e).split(":")[0])
        torsh.vision
    """


class ImageReadMode(enum.Enum):
    """How to convert a decoded image (torchvision's ``ImageReadMode``); strings like ``"RGB"`` work too.

    Example:
        >>> import numpy as np
        >>> data = encode_png(np.zeros((3, 2, 2), np.uint8))
        >>> decode_image(data, ImageReadMode.GRAY).shape, decode_image(data, "RGBA").shape
        ((1, 2, 2), (4, 2, 2))
    """

    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = 4


_PIL_MODES = {
    ImageReadMode.GRAY: "L",
    ImageReadMode.GRAY_ALPHA: "LA",
    ImageReadMode.RGB: "RGB",
    ImageReadMode.RGB_ALPHA: "RGBA",
}


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency of the vision extra
        from ..data import MissingDependencyError

        raise MissingDependencyError(
            "torsh.vision: image decoding needs Pillow; install it with: pip install 'torsh[vision]'"
        ) from None
    return Image


def _parse_mode(mode: ImageReadMode | str) -> ImageReadMode:
    if isinstance(mode, ImageReadMode):
        return mode
    if isinstance(mode, str) and mode.upper() in ImageReadMode.__members__:
        return ImageReadMode[mode.upper()]
    raise ConfigError(
        "torsh.vision.io: mode must be an ImageReadMode or one of "
        f"{list(ImageReadMode.__members__)}, got {mode!r}"
    )


def read_file(path: PathLike) -> np.ndarray:
    """The raw bytes of a file as a 1-D ``uint8`` array (``torchvision.io.read_file``).

    Args:
      path: the file.

    Returns:
      Its bytes as a 1-D ``uint8`` array.

    Raises:
      DataFileNotFoundError: no such file.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "b.bin"); _ = open(p, "wb").write(b"ab")
        >>> read_file(p)
        array([97, 98], dtype=uint8)
    """
    from ..data import DataFileNotFoundError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFileNotFoundError(f"torsh.vision.io.read_file: no file at {path!r}")
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8).copy()


def _to_chw(pil_image: Any, where: str) -> np.ndarray:
    arr = np.asarray(pil_image)
    if pil_image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale PNG: torchvision returns uint16 values.
        arr = arr.astype(np.uint16)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def open_image(source: Any, where: str) -> Any:
    """Open and fully decode ``source`` (path or file object) with Pillow; errors name ``where``."""
    Image = _pil()
    try:
        img = Image.open(source)
        img.load()  # decode now, so truncated data fails here, not later in a transform
    except FileNotFoundError:
        from ..data import DataFileNotFoundError

        raise DataFileNotFoundError(f"torsh.vision: no image file at {where}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"torsh.vision: cannot decode image {where}: {exc}") from None
    return img


def _decode(img: Any, mode: ImageReadMode, apply_exif_orientation: bool, where: str) -> np.ndarray:
    if apply_exif_orientation:
        from PIL import ImageOps

        img = ImageOps.exif_transpose(img)
    if mode is not ImageReadMode.UNCHANGED:
        target = _PIL_MODES[mode]
        if img.mode != target:
            img = img.convert(target)
    elif img.mode == "P":
        # Palette images decode to their colours, as torchvision's decoders do.
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I", "1"):
        img = img.convert("RGB")
    return _to_chw(img, where)


def decode_image(
    input: Any, mode: ImageReadMode | str = ImageReadMode.UNCHANGED, apply_exif_orientation: bool = False
) -> np.ndarray:
    """Decode an image to a ``(C, H, W)`` array (``torchvision.io.decode_image``).

    Args:
      input: encoded bytes (``bytes`` or a 1-D ``uint8`` array) or a path.
      mode: ``"UNCHANGED"`` (default), ``"GRAY"``, ``"GRAY_ALPHA"``, ``"RGB"`` or ``"RGBA"``.
      apply_exif_orientation: rotate/flip as the JPEG/PNG EXIF orientation tag says.

    Returns:
      A ``(C, H, W)`` ``uint8`` array (``uint16`` for 16-bit grayscale PNGs, as torchvision).

    Raises:
      ImageDecodeError: the data is not a readable image (the message names the file or says "bytes").
      DataFileNotFoundError: a path that does not exist.
      ShapeError: an array that is not 1-D ``uint8``.
      DTypeError: ``input`` is neither bytes, an array nor a path.
      ConfigError: an unknown ``mode``.
      MissingDependencyError: Pillow is not installed.

    Example:
        >>> import io, numpy as np
        >>> from PIL import Image
        >>> buf = io.BytesIO(); Image.fromarray(np.full((2, 3, 3), 7, np.uint8)).save(buf, "PNG")
        >>> decode_image(buf.getvalue()).shape
        (3, 2, 3)
    """
    mode = _parse_mode(mode)
    if isinstance(input, (str, os.PathLike)):
        path = os.fspath(input)
        return _decode(open_image(path, repr(path)), mode, apply_exif_orientation, repr(path))
    if isinstance(input, np.ndarray):
        if input.dtype != np.uint8 or input.ndim != 1:
            raise ShapeError(
                "torsh.vision.io.decode_image: expected encoded bytes as a 1-D uint8 array, "
                f"got {input.dtype} of shape {input.shape}"
            )
        data = input.tobytes()
    elif isinstance(input, (bytes, bytearray, memoryview)):
        data = bytes(input)
    else:
        raise DTypeError(
            "torsh.vision.io.decode_image: expected bytes, a 1-D uint8 array or a path, got "
            f"{type(input).__name__}"
        )
    where = f"<{len(data)} bytes>"
    return _decode(open_image(_io.BytesIO(data), where), mode, apply_exif_orientation, where)


def read_image(
    path: PathLike, mode: ImageReadMode | str = ImageReadMode.UNCHANGED, apply_exif_orientation: bool = False
) -> np.ndarray:
    """Read an image file into a ``(C, H, W)`` ``uint8`` array (``torchvision.io.read_image``).

    Args:
      path: the image file.
      mode: as in :func:`decode_image`.
      apply_exif_orientation: as in :func:`decode_image`.

    Returns:
      The ``(C, H, W)`` array.

    Raises:
      DataFileNotFoundError: no such file.
      ImageDecodeError: not a readable image.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "c.png")
        >>> write_png(np.zeros((3, 2, 2), np.uint8), p)
        >>> read_image(p, mode="GRAY").shape
        (1, 2, 2)
    """
    return decode_image(os.fspath(path), mode, apply_exif_orientation)


def _check_png_input(input: Any, where: str) -> np.ndarray:
    arr = np.asarray(input)
    if arr.dtype != np.uint8:
        raise DTypeError(f"torsh.vision.io.{where}: expected a uint8 (C, H, W) array, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[0] not in (1, 2, 3, 4):
        raise ShapeError(
            f"torsh.vision.io.{where}: expected a (C, H, W) array with C in 1..4, got shape {arr.shape}"
        )
    return arr


def _png_image(arr: np.ndarray) -> Any:
    Image = _pil()
    hwc = arr.transpose(1, 2, 0)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[0]]
    return Image.fromarray(np.ascontiguousarray(hwc[:, :, 0] if mode == "L" else hwc), mode=mode)


def encode_png(input: Any, compression_level: int = 6) -> np.ndarray:
    """PNG-encode a ``(C, H, W)`` ``uint8`` array into a 1-D ``uint8`` array of bytes.

    Args:
      input: a ``(C, H, W)`` ``uint8`` array with 1 to 4 channels.
      compression_level: zlib level, 0 to 9.

    Returns:
      The PNG file's bytes as a 1-D ``uint8`` array.

    Raises:
      ConfigError: ``compression_level`` outside [0, 9].
      DTypeError: a non-``uint8`` array.
      ShapeError: not ``(C, H, W)`` with 1 to 4 channels.
      MissingDependencyError: Pillow is not installed.

    Example:
        >>> import numpy as np
        >>> data = encode_png(np.zeros((1, 2, 2), np.uint8))
        >>> bytes(data[1:4])
        b'PNG'
    """
    if not 0 <= int(compression_level) <= 9:
        raise ConfigError(
            f"torsh.vision.io.encode_png: compression_level must be in [0, 9], got {compression_level}"
        )
    arr = _check_png_input(input, "encode_png")
    buf = _io.BytesIO()
    _png_image(arr).save(buf, format="PNG", compress_level=int(compression_level))
    return np.frombuffer(buf.getvalue(), dtype=np.uint8).copy()


def write_png(input: Any, filename: PathLike, compression_level: int = 6) -> None:
    """Write a ``(C, H, W)`` ``uint8`` array as a PNG file (``torchvision.io.write_png``).

    Args:
      input: a ``(C, H, W)`` ``uint8`` array with 1 to 4 channels.
      filename: the file to write.
      compression_level: zlib level, 0 to 9.

    Raises:
      ConfigError, DTypeError, ShapeError, MissingDependencyError: as :func:`encode_png`.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.png")
        >>> write_png(np.full((3, 1, 1), 255, np.uint8), p)
        >>> read_image(p).ravel().tolist()
        [255, 255, 255]
    """
    data = encode_png(input, compression_level)
    with open(os.fspath(filename), "wb") as f:
        f.write(data.tobytes())
