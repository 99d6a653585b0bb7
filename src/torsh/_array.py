"""Array creation helpers. Arrays are plain ``jax.Array``: torsh adds defaults, not a wrapper class.

Floating results use the default dtype (:func:`torsh.get_default_dtype`); ``device=`` accepts anything
:func:`torsh.device` accepts ("cpu", "cpu:1", "cuda:0", a ``jax.Device``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._dtype import dtype as _as_dtype
from ._dtype import get_default_dtype
from .errors import ConfigError, DTypeError, ShapeError

__all__ = [
    "Array",
    "tensor",
    "as_tensor",
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "linspace",
    "eye",
    "zeros_like",
    "ones_like",
    "full_like",
    "from_numpy",
    "to_numpy",
    "from_dlpack",
    "to_dlpack",
]

Array = jax.Array
Shape = Sequence[int] | int


def _shape(shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):  # zeros((2, 3)) as well as zeros(2, 3)
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0:
            raise ConfigError(f"expected a shape of non-negative ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def _check_numeric(dt: np.dtype, where: str, fix: str = "") -> None:
    """Arrays of objects, strings or dates are not XLA arrays: say so instead of JAX's staging error."""
    if dt == np.bool_ or jnp.issubdtype(dt, np.number):
        return
    kinds = {"O": "Python objects", "U": "strings", "S": "bytes", "M": "datetimes", "m": "timedeltas"}
    what = kinds.get(dt.kind, f"dtype {dt}")
    raise DTypeError(f"{where}: expected numeric or boolean data, got an array of {what} (dtype {dt}){fix}")


def _is_number(x: Any) -> bool:
    return isinstance(x, (bool, int, float, complex, np.number, np.bool_))


def _fill(fill_value: Any, where: str) -> Any:
    """``fill_value`` must be a number or a 0-d array (torch's rule); JAX would read a string as a dtype."""
    if _is_number(fill_value):
        return fill_value
    if isinstance(fill_value, (jax.Array, np.ndarray)):
        if fill_value.ndim != 0:
            raise ShapeError(
                f"{where}: fill_value must be a number or a 0-d array, got an array of shape "
                f"{list(fill_value.shape)}; use jnp.broadcast_to(value, shape) to repeat an array"
            )
        _check_numeric(np.dtype(fill_value.dtype), where)
        return fill_value
    raise DTypeError(
        f"{where}: fill_value must be a number (int, float, complex, bool), got "
        f"{type(fill_value).__name__} {fill_value!r}"
    )


def _like(x: Any, where: str) -> Any:
    if isinstance(x, jax.Array):
        return x
    arr = x if isinstance(x, np.ndarray) else None
    if arr is None:
        if not (_is_number(x) or hasattr(x, "__array__") or hasattr(x, "shape")):
            raise DTypeError(f"{where}: expected an array (or a number), got {type(x).__name__} {x!r}")
        arr = np.asarray(x)
    _check_numeric(arr.dtype, where)
    return arr


def _place(x: jax.Array, device: Any) -> jax.Array:
    if device is None:
        return x
    from .backends import device as resolve

    return jax.device_put(x, resolve(device))


def _resolve_dtype(dtype: Any, floating: bool) -> Any:
    if dtype is not None:
        return _as_dtype(dtype)
    return get_default_dtype() if floating else None


def tensor(data: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """An array from Python data, numpy, torch or JAX arrays (copying), like ``torch.tensor``.

    Python floats become the default float dtype; integers stay integers.

    Example:
      >>> import torsh
      >>> torsh.tensor([[1.0, 2.0], [3.0, 4.0]]).dtype
      dtype('float32')
    """
    if type(data).__module__.startswith("torch"):
        data = _torch_to_numpy(data)
    if isinstance(data, jax.Array):
        arr = data
    else:
        try:
            arr = np.asarray(data)
        except ValueError as e:  # ragged nested lists
            raise ShapeError(
                f"tensor: nested sequences must be rectangular (every row the same length); numpy says: {e}"
            ) from None
    if arr.dtype == object:
        raise DTypeError(f"tensor: cannot make an array of Python objects (got {type(data).__name__})")
    _check_numeric(np.dtype(arr.dtype), "tensor")
    d = _as_dtype(dtype) if dtype is not None else None
    if d is None and not isinstance(data, (jax.Array, np.ndarray)) and np.issubdtype(arr.dtype, np.floating):
        d = get_default_dtype()
    return _place(jnp.array(arr, dtype=d), device)


def _torch_to_numpy(t: Any) -> np.ndarray:
    t = t.detach().cpu()
    try:
        return t.numpy()
    except TypeError:  # dtypes numpy lacks (bfloat16, float8...): go through DLPack, which JAX reads
        return np.asarray(jax.dlpack.from_dlpack(t.contiguous()))


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """Like :func:`tensor` but avoids a copy when ``data`` is already a suitable array."""
    if isinstance(data, jax.Array) and (dtype is None or data.dtype == _as_dtype(dtype)) and device is None:
        return data
    return tensor(data, dtype, device)


def zeros(*shape: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """An array of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``.

    Example:
      >>> import torsh
      >>> torsh.zeros(2, 3).shape
      (2, 3)
    """
    return _place(jnp.zeros(_shape(shape), _resolve_dtype(dtype, True)), device)


def ones(*shape: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """An array of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    return _place(jnp.ones(_shape(shape), _resolve_dtype(dtype, True)), device)


def empty(*shape: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """Same as :func:`zeros` (XLA arrays are always initialised)."""
    return zeros(*shape, dtype=dtype, device=device)


def full(shape: Shape, fill_value: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """An array filled with ``fill_value`` (a float fill gives the default float dtype)."""
    fill_value = _fill(fill_value, "full")
    floating = isinstance(fill_value, float)
    shp = _shape((shape,))
    return _place(jnp.full(shp, fill_value, _resolve_dtype(dtype, floating)), device)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None) -> jax.Array:
    """Evenly spaced values in ``[start, end)`` (``torch.arange`` semantics).

    Example:
      >>> import torsh
      >>> torsh.arange(0, 1, 0.25).tolist()
      [0.0, 0.25, 0.5, 0.75]
    """
    for name, v in (("start", start), ("end", end), ("step", step)):
        scalar_array = getattr(v, "ndim", None) == 0 and hasattr(v, "dtype")
        if (
            not (v is None and name == "end")
            and not scalar_array
            and not (_is_number(v) and not isinstance(v, (bool, complex)))
        ):
            raise DTypeError(f"arange: {name} must be a real number, got {type(v).__name__} {v!r}")
    if step == 0:
        raise ConfigError("arange: step must be non-zero")
    floating = any(isinstance(v, float) for v in (start, end, step))
    return _place(jnp.arange(start, end, step, dtype=_resolve_dtype(dtype, floating)), device)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None) -> jax.Array:
    """``steps`` values from ``start`` to ``end`` inclusive (``torch.linspace``)."""
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ConfigError(f"linspace: steps must be an int >= 0, got {steps!r}")
    return _place(jnp.linspace(start, end, steps, dtype=_resolve_dtype(dtype, True)), device)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None) -> jax.Array:
    """The ``n x m`` identity matrix."""
    for name, v in (("n", n), ("m", m)):
        if not (v is None and name == "m") and (
            not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0
        ):
            raise ConfigError(f"eye: {name} must be an int >= 0, got {v!r}")
    return _place(jnp.eye(n, m, dtype=_resolve_dtype(dtype, True)), device)


def zeros_like(x: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """Zeros with ``x``'s shape and dtype."""
    x = _like(x, "zeros_like")
    return _place(jnp.zeros_like(x, dtype=None if dtype is None else _as_dtype(dtype)), device)


def ones_like(x: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """Ones with ``x``'s shape and dtype."""
    x = _like(x, "ones_like")
    return _place(jnp.ones_like(x, dtype=None if dtype is None else _as_dtype(dtype)), device)


def full_like(x: Any, fill_value: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """``fill_value`` with ``x``'s shape and dtype."""
    x, fill_value = _like(x, "full_like"), _fill(fill_value, "full_like")
    return _place(jnp.full_like(x, fill_value, dtype=None if dtype is None else _as_dtype(dtype)), device)


def from_numpy(a: np.ndarray, device: Any = None) -> jax.Array:
    """A JAX array from a numpy array, sharing memory on CPU when the buffer allows it (via DLPack).

    XLA shares only C-contiguous, writeable buffers aligned to 64 bytes; numpy usually aligns to 16,
    so most arrays are copied (once). Allocate with 64-byte alignment to get a zero-copy view.

    Example:
      >>> import numpy as np, torsh
      >>> torsh.from_numpy(np.arange(3)).tolist()
      [0, 1, 2]
    """
    if not isinstance(a, np.ndarray):
        raise DTypeError(f"from_numpy: expected a numpy.ndarray, got {type(a).__name__}")
    _check_numeric(
        a.dtype,
        "from_numpy",
        "; convert it first, e.g. a.astype(np.float32) (torch.from_numpy refuses it too)",
    )
    if device is None and a.flags.c_contiguous and a.flags.writeable and a.dtype.kind in "biufc":
        try:
            return jax.dlpack.from_dlpack(a)
        except Exception:  # unaligned or unsupported buffers fall back to a copy
            pass
    return _place(jnp.asarray(a), device)


def to_numpy(x: Any) -> np.ndarray:
    """A numpy view of an array (zero-copy for CPU arrays; copies from accelerators)."""
    return np.asarray(x)


def from_dlpack(x: Any) -> jax.Array:
    """A JAX array from any DLPack producer (numpy, torch, cupy, ...), zero-copy where possible.

    Example:
      >>> import numpy as np, torsh
      >>> torsh.from_dlpack(np.ones(2, np.float32)).dtype
      dtype('float32')
    """
    if not hasattr(x, "__dlpack__"):
        raise DTypeError(f"from_dlpack: {type(x).__name__} does not implement __dlpack__")
    return jax.dlpack.from_dlpack(x)


def to_dlpack(x: jax.Array) -> Any:
    """The array itself, ready for ``torch.from_dlpack`` / ``np.from_dlpack`` (zero-copy on CPU).

    JAX arrays implement the DLPack protocol (``__dlpack__``); consumers take them directly.
    """
    if not isinstance(x, jax.Array):
        raise DTypeError(f"to_dlpack: expected a jax.Array, got {type(x).__name__}")
    return x
