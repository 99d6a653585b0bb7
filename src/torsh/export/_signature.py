"""Input/output signatures of exported programs: named shapes with symbolic dimensions, and their checks."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ._errors import ExportError

__all__ = ["TensorSpec", "parse_input_spec"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """The name, shape and dtype of one input or output of an exported program.

    A dimension is an ``int`` (fixed) or a ``str`` (a symbolic dimension such as ``"batch"``: any size,
    the same size wherever the same name appears in one call).

    Args:
      name: the input's or output's name.
      shape: the dimensions (``int`` or symbolic ``str``).
      dtype: a NumPy dtype name (``"float32"``, ``"bfloat16"``...).

    Example:
      >>> from torsh.export import TensorSpec
      >>> spec = TensorSpec("x", ("batch", 3), "float32")
      >>> str(spec)
      'x: float32[batch, 3]'
    """

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    def __str__(self) -> str:
        return f"{self.name}: {self.dtype}[{', '.join(str(d) for d in self.shape)}]"

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in an artifact's signature.

        Returns:
          ``{"name": ..., "shape": [...], "dtype": ...}``.

        Example:
          >>> from torsh.export import TensorSpec
          >>> TensorSpec("x", ("batch", 3), "float32").to_json()
          {'name': 'x', 'shape': ['batch', 3], 'dtype': 'float32'}
        """
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TensorSpec:
        """The spec stored as :meth:`to_json` wrote it.

        Args:
          obj: a mapping with ``name``, ``shape`` and ``dtype``.

        Returns:
          A :class:`TensorSpec`.

        Example:
          >>> from torsh.export import TensorSpec
          >>> TensorSpec.from_json({"name": "x", "shape": ["batch", 3], "dtype": "float32"})
          TensorSpec(name='x', shape=('batch', 3), dtype='float32')
        """
        return cls(str(obj["name"]), tuple(obj["shape"]), str(obj["dtype"]))


def parse_input_spec(text: str) -> TensorSpec:
    """Parse the command line's ``NAME:DIM,DIM,...:DTYPE`` (e.g. ``x:batch,3,32,32:float32``).

    Args:
      text: the spec; a dimension is a size (digits) or a symbolic name.

    Returns:
      The :class:`TensorSpec`.

    Raises:
      ExportError: not three ``:``-separated parts, a dimension that is neither a size nor a name,
        or an unknown dtype.

    Example:
      >>> from torsh.export import parse_input_spec
      >>> parse_input_spec("x:batch,3,32,32:float32")
      TensorSpec(name='x', shape=('batch', 3, 32, 32), dtype='float32')
    """
    parts = text.split(":")
    if len(parts) != 3 or not _NAME.match(parts[0]):
        raise ExportError(
            f"input spec {text!r}: expected NAME:DIM,DIM,...:DTYPE such as 'x:batch,3,32,32:float32'"
        )
    name, dims_text, dtype = parts
    dims: list[int | str] = []
    for d in dims_text.split(",") if dims_text.strip() else []:
        d = d.strip()
        if d.isdigit():
            dims.append(int(d))
        elif _NAME.match(d):
            dims.append(d)
        else:
            raise ExportError(f"input spec {text!r}: dimension {d!r} is neither a size nor a name")
    try:
        np.dtype(dtype) if dtype != "bfloat16" else None
    except TypeError:
        raise ExportError(f"input spec {text!r}: unknown dtype {dtype!r}") from None
    return TensorSpec(name, tuple(dims), dtype)


_BOUND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*(\d+)\s*$")


def check_inputs(specs: Sequence[TensorSpec], values: Sequence[Any], constraints: Sequence[str] = ()) -> None:
    """Raise a ShapeError/DTypeError naming the input if ``values`` do not fit ``specs``."""
    bound: dict[str, tuple[int, str]] = {}
    for spec, value in zip(specs, values, strict=True):
        shape = tuple(np.shape(value))
        dtype = str(getattr(value, "dtype", np.asarray(value).dtype))
        if dtype != spec.dtype:
            raise DTypeError(
                f"input {spec.name!r}: expected dtype {spec.dtype}, got {dtype} "
                f"(convert it, e.g. {spec.name}.astype(jnp.{spec.dtype}))"
            )
        if len(shape) != len(spec.shape):
            raise ShapeError(
                f"input {spec.name!r}: expected shape [{', '.join(map(str, spec.shape))}] "
                f"(rank {len(spec.shape)}), got {list(shape)} (rank {len(shape)})"
            )
        for axis, (want, got) in enumerate(zip(spec.shape, shape, strict=True)):
            if isinstance(want, int):
                if want != got:
                    raise ShapeError(
                        f"input {spec.name!r}: expected shape [{', '.join(map(str, spec.shape))}], "
                        f"got {list(shape)} (dimension {axis} must be {want})"
                    )
            elif want in bound and bound[want][0] != got:
                size, where = bound[want]
                raise ShapeError(
                    f"input {spec.name!r}: dimension {axis} is {want!r} = {size} in {where}, "
                    f"got {got} (expected shape [{', '.join(map(str, spec.shape))}])"
                )
            else:
                bound.setdefault(want, (got, f"input {spec.name!r}"))
    for text in constraints:
        m = _BOUND.match(text)
        if m and m.group(1) in bound:
            size, where = bound[m.group(1)]
            limit = int(m.group(3))
            if (size > limit) if m.group(2) == "<=" else (size < limit):
                raise ShapeError(
                    f"{where}: dimension {m.group(1)!r} is {size}, but the model was exported for {text}"
                )
