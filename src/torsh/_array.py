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

    Python floats become the default float dtype; integers stay integers (int32 unless x64 is enabled).

    Args:
        data: A number, a (nested, rectangular) list or tuple, or a numpy / torch / JAX array.
        dtype: The result's dtype (a torsh, numpy or string dtype); inferred from ``data`` if None.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        A new ``jax.Array``.

    Raises:
        ShapeError: If nested sequences are ragged.
        DTypeError: If ``data`` holds strings, Python objects or dates.
        DeviceError: If ``device`` is unknown or unavailable.

    Example:
        >>> import torch, torsh
        >>> torsh.tensor([[1.0, 2.0], [3.0, 4.0]])
        Array([[1., 2.],
               [3., 4.]], dtype=float32)
        >>> torsh.tensor(torch.arange(3)).tolist()
        [0, 1, 2]
    """
    if type(data).__module__.startswith("torch"):
        data = _torch_to_numpy(data)
    arr: jax.Array | np.ndarray
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
    """Like :func:`tensor` but without a copy when ``data`` is already a JAX array of the asked dtype.

    Args:
        data: A number, a list, or a numpy / torch / JAX array.
        dtype: The result's dtype; ``data``'s if None.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        ``data`` itself when no conversion is needed, else a new array.

    Raises:
        ShapeError: If nested sequences are ragged.
        DTypeError: If ``data`` is not numeric.

    Example:
        >>> import torsh
        >>> x = torsh.ones(3)
        >>> torsh.as_tensor(x) is x
        True
        >>> torsh.as_tensor([1, 2], dtype=torsh.float32)
        Array([1., 2.], dtype=float32)
    """
    if isinstance(data, jax.Array) and (dtype is None or data.dtype == _as_dtype(dtype)) and device is None:
        return data
    return tensor(data, dtype, device)


def zeros(*shape: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """An array of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))`` (``torch.zeros``).

    Args:
        *shape: The sizes, as separate ints or one tuple/list.
        dtype: The dtype; the default float dtype if None.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        An array of zeros.

    Raises:
        DTypeError: If ``dtype`` is not a dtype.
        ConfigError: If a size is not a non-negative int.

    Example:
        >>> import torsh
        >>> torsh.zeros(2, 3).shape
        (2, 3)
        >>> torsh.zeros((2,), dtype=torsh.int32)
        Array([0, 0], dtype=int32)
    """
    return _place(jnp.zeros(_shape(shape), _resolve_dtype(dtype, True)), device)


def ones(*shape: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """An array of ones: ``ones(2, 3)`` or ``ones((2, 3))`` (``torch.ones``).

    Args:
        *shape: The sizes, as separate ints or one tuple/list.
        dtype: The dtype; the default float dtype if None.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        An array of ones.

    Raises:
        DTypeError: If ``dtype`` is not a dtype.
        ConfigError: If a size is not a non-negative int.

    Example:
        >>> import torsh
        >>> torsh.ones(2, 3)
        Array([[1., 1., 1.],
               [1., 1., 1.]], dtype=float32)
    """
    return _place(jnp.ones(_shape(shape), _resolve_dtype(dtype, True)), device)


def empty(*shape: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """Same as :func:`zeros` (XLA arrays are always initialised), for code ported from ``torch.empty``.

    Args:
        *shape: The sizes, as separate ints or one tuple/list.
        dtype: The dtype; the default float dtype if None.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        An array of zeros.

    Raises:
        DTypeError: If ``dtype`` is not a dtype.
        ConfigError: If a size is not a non-negative int.

    Example:
        >>> import torsh
        >>> torsh.empty(2)
        Array([0., 0.], dtype=float32)
    """
    return zeros(*shape, dtype=dtype, device=device)


def full(shape: Shape, fill_value: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """An array filled with ``fill_value`` (``torch.full``; a float fill gives the default float dtype).

    Args:
        shape: The shape (an int or a sequence of ints).
        fill_value: A number or a 0-d array.
        dtype: The dtype; inferred from ``fill_value`` if None.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        An array of ``shape`` whose every element is ``fill_value``.

    Raises:
        ConfigError: If ``shape`` is not made of non-negative ints.
        ShapeError: If ``fill_value`` is an array with more than 0 dimensions.
        DTypeError: If ``fill_value`` is not a number.

    Example:
        >>> import torsh
        >>> torsh.full((2, 2), 7.0)
        Array([[7., 7.],
               [7., 7.]], dtype=float32)
    """
    fill_value = _fill(fill_value, "full")
    floating = isinstance(fill_value, float)
    shp = _shape((shape,))
    return _place(jnp.full(shp, fill_value, _resolve_dtype(dtype, floating)), device)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None) -> jax.Array:
    """Evenly spaced values in ``[start, end)`` (``torch.arange`` semantics; ``arange(n)`` counts from 0).

    Args:
        start: The first value, or the end if ``end`` is None.
        end: The exclusive end.
        step: The spacing (non-zero).
        dtype: The dtype; the default float dtype if any argument is a float, else an integer dtype.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        A 1-D array.

    Raises:
        DTypeError: If an argument is not a real number.
        ConfigError: If ``step`` is 0.

    Example:
        >>> import torsh
        >>> torsh.arange(5).tolist()
        [0, 1, 2, 3, 4]
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
    """``steps`` values from ``start`` to ``end`` inclusive (``torch.linspace``).

    Args:
        start: The first value.
        end: The last value.
        steps: How many values (``>= 0``).
        dtype: The dtype; the default float dtype if None.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        A 1-D array of ``steps`` values.

    Raises:
        DTypeError: If ``dtype`` is not a dtype.
        ConfigError: If ``steps`` is not an int ``>= 0``.

    Example:
        >>> import torsh
        >>> torsh.linspace(0, 1, 5)
        Array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
    """
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ConfigError(f"linspace: steps must be an int >= 0, got {steps!r}")
    return _place(jnp.linspace(start, end, steps, dtype=_resolve_dtype(dtype, True)), device)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None) -> jax.Array:
    """The ``n x m`` identity matrix (``torch.eye``).

    Args:
        n: The number of rows.
        m: The number of columns; ``n`` if None.
        dtype: The dtype; the default float dtype if None.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        A 2-D array with ones on the diagonal.

    Raises:
        DTypeError: If ``dtype`` is not a dtype.
        ConfigError: If ``n`` or ``m`` is not an int ``>= 0``.

    Example:
        >>> import torsh
        >>> torsh.eye(2, 3)
        Array([[1., 0., 0.],
               [0., 1., 0.]], dtype=float32)
    """
    for name, v in (("n", n), ("m", m)):
        if not (v is None and name == "m") and (
            not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0
        ):
            raise ConfigError(f"eye: {name} must be an int >= 0, got {v!r}")
    return _place(jnp.eye(n, m, dtype=_resolve_dtype(dtype, True)), device)


def zeros_like(x: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """Zeros with ``x``'s shape and dtype (``torch.zeros_like``).

    Args:
        x: An array (JAX, numpy) or a number.
        dtype: Overrides ``x``'s dtype.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        An array of zeros.

    Raises:
        DTypeError: If ``x`` is not a numeric array or number.

    Example:
        >>> import torsh
        >>> torsh.zeros_like(torsh.arange(3))
        Array([0, 0, 0], dtype=int32)
    """
    return _place(jnp.zeros_like(_like(x, "zeros_like"), dtype=_resolve_dtype(dtype, False)), device)


def ones_like(x: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """Ones with ``x``'s shape and dtype (``torch.ones_like``).

    Args:
        x: An array (JAX, numpy) or a number.
        dtype: Overrides ``x``'s dtype.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        An array of ones.

    Raises:
        DTypeError: If ``x`` is not a numeric array or number.

    Example:
        >>> import torsh
        >>> torsh.ones_like(torsh.zeros(2), dtype=torsh.float16)
        Array([1., 1.], dtype=float16)
    """
    return _place(jnp.ones_like(_like(x, "ones_like"), dtype=_resolve_dtype(dtype, False)), device)


def full_like(x: Any, fill_value: Any, dtype: Any = None, device: Any = None) -> jax.Array:
    """``fill_value`` with ``x``'s shape and dtype (``torch.full_like``).

    Args:
        x: An array (JAX, numpy) or a number.
        fill_value: A number or a 0-d array.
        dtype: Overrides ``x``'s dtype.
        device: Where to put the result (``"cpu"``, ``"cuda:0"``, a ``jax.Device``); JAX's default if None.

    Returns:
        An array filled with ``fill_value``.

    Raises:
        DTypeError: If ``x`` or ``fill_value`` is not numeric.
        ShapeError: If ``fill_value`` is an array with more than 0 dimensions.

    Example:
        >>> import torsh
        >>> torsh.full_like(torsh.zeros(2), 0.5)
        Array([0.5, 0.5], dtype=float32)
    """
    x, fill_value = _like(x, "full_like"), _fill(fill_value, "full_like")
    return _place(jnp.full_like(x, fill_value, dtype=_resolve_dtype(dtype, False)), device)


def from_numpy(a: np.ndarray, device: Any = None) -> jax.Array:
    """A JAX array from a numpy array, sharing memory on CPU when the buffer allows it (via DLPack).

    XLA shares only C-contiguous, writeable buffers aligned to 64 bytes; numpy usually aligns to 16,
    so most arrays are copied (once). Allocate with 64-byte alignment to get a zero-copy view.

    Args:
        a: A numpy array of numbers or booleans.
        device: Where to put the result; passing one always copies.

    Returns:
        A ``jax.Array`` with ``a``'s dtype (64-bit dtypes narrowed unless x64 is enabled).

    Raises:
        DTypeError: If ``a`` is not a numpy array, or holds objects, strings or dates.

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
    """A numpy view of an array (zero-copy for CPU arrays; copies from accelerators), like ``Tensor.numpy()``.

    Args:
        x: A JAX array (or anything ``np.asarray`` accepts).

    Returns:
        A numpy array (read-only when it shares a JAX buffer).

    Example:
        >>> import torsh
        >>> torsh.to_numpy(torsh.arange(3))
        array([0, 1, 2], dtype=int32)
    """
    return np.asarray(x)


def from_dlpack(x: Any) -> jax.Array:
    """A JAX array from any DLPack producer (numpy, torch, cupy, ...), zero-copy where possible.

    Args:
        x: An object implementing ``__dlpack__``.

    Returns:
        A ``jax.Array`` viewing (or, where it must, copying) ``x``'s memory.

    Raises:
        DTypeError: If ``x`` does not implement ``__dlpack__``.

    Example:
        >>> import torch, torsh
        >>> torsh.from_dlpack(torch.arange(3.0))
        Array([0., 1., 2.], dtype=float32)
    """
    if not hasattr(x, "__dlpack__"):
        raise DTypeError(f"from_dlpack: {type(x).__name__} does not implement __dlpack__")
    return jax.dlpack.from_dlpack(x)


def to_dlpack(x: jax.Array) -> Any:
    """The array itself, ready for ``torch.from_dlpack`` / ``np.from_dlpack`` (zero-copy on CPU).

    JAX arrays implement the DLPack protocol (``__dlpack__``); consumers take them directly.

    Args:
        x: A ``jax.Array``.

    Returns:
        ``x`` (a DLPack producer).

    Raises:
        DTypeError: If ``x`` is not a ``jax.Array``.

    Example:
        >>> import torch, torsh
        >>> torch.from_dlpack(torsh.to_dlpack(torsh.arange(3.0)))
        tensor([0., 1., 2.])
    """
    if not isinstance(x, jax.Array):
        raise DTypeError(f"to_dlpack: expected a jax.Array, got {type(x).__name__}")
    return x
