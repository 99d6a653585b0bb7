"""``Policy``: the three dtypes of mixed precision (stored parameters, computation, outputs), as in jmp."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import tree as _tree
from .._dtype import dtype as _as_dtype
from ..errors import DTypeError
from ._errors import PolicyError

__all__ = ["Policy"]

# jmp's short names and a few more; everything else goes through torsh.dtype (PyTorch's names).
_ALIASES = {
    "f16": "float16",
    "bf16": "bfloat16",
    "f32": "float32",
    "f64": "float64",
    "full": "float32",
    "single": "float32",
}
_KEYS = {"params": "params", "p": "params", "param": "params", "compute": "compute", "c": "compute"}
_KEYS.update({"output": "output", "o": "output"})
_FLOATS = ("float16", "bfloat16", "float32", "float64")


def floating_dtype(value: Any, what: str) -> np.dtype:
    """``value`` (a name, numpy/JAX/torch dtype) as a floating numpy dtype, or a DTypeError."""
    if isinstance(value, str):
        value = _ALIASES.get(value.strip().lower(), value.strip())
    try:
        d = _as_dtype(value)
    except DTypeError as e:
        raise DTypeError(
            f"{what}: unknown dtype {value!r}; expected one of {', '.join(_FLOATS)} "
            f"(or bf16, f16, f32, half, ...): {e}"
        ) from None
    if not jnp.issubdtype(d, jnp.floating):
        raise DTypeError(f"{what}: expected a floating dtype ({', '.join(_FLOATS)}), got {d.name}")
    return d


def cast_floating(tree: Any, dtype: np.dtype) -> Any:
    """Cast the floating array leaves of ``tree`` to ``dtype`` (ints, keys, None, Python floats kept)."""

    def one(x: Any) -> Any:
        if (
            isinstance(x, (jax.Array, np.ndarray))
            and jnp.issubdtype(x.dtype, jnp.floating)
            and x.dtype != dtype
        ):
            return jnp.asarray(x).astype(dtype)
        return x

    return _tree.map(one, tree)


@dataclasses.dataclass(frozen=True, init=False)
class Policy:
    """A mixed-precision policy: the dtype parameters are stored in, computed in, and returned in.

    ``Policy(params="float32", compute="bfloat16", output="float32")`` is the usual mixed-precision
    policy: float32 master weights (so gradients and optimizer states are float32), matrix products
    and convolutions in bfloat16, float32 model outputs (so the loss is computed in float32). Every
    dtype defaults to float32. Give dtypes by name (``"bfloat16"``, ``"bf16"``, ``"half"``), as
    numpy/JAX dtypes or ``torch.dtype``; a string such as ``"params=float32,compute=bfloat16,output=float32"``
    (or jmp's short form ``"p=f32,c=bf16,o=f32"``) goes through :meth:`parse`.

    Apply a policy to a model with :func:`torsh.amp.apply`; the ``cast_to_*`` methods cast any pytree.

    Args:
      params: dtype of the stored (trainable) parameters.
      compute: dtype every module casts its floating inputs and its own arrays to when called.
      output: dtype the model's floating outputs are cast to.

    Raises:
      DTypeError: an unknown dtype name, or a non-floating dtype.

    Example:
      >>> from torsh import amp
      >>> p = amp.Policy(compute="bfloat16")
      >>> p
      Policy(params=float32, compute=bfloat16, output=float32)
      >>> amp.Policy.parse("p=f32,c=bf16,o=f32") == p
      True
    """

    params: np.dtype
    compute: np.dtype
    output: np.dtype

    def __init__(self, params: Any = "float32", compute: Any = "float32", output: Any = "float32") -> None:
        object.__setattr__(self, "params", floating_dtype(params, "amp.Policy(params=...)"))
        object.__setattr__(self, "compute", floating_dtype(compute, "amp.Policy(compute=...)"))
        object.__setattr__(self, "output", floating_dtype(output, "amp.Policy(output=...)"))

    def __repr__(self) -> str:
        return f"Policy(params={self.params.name}, compute={self.compute.name}, output={self.output.name})"

    def __str__(self) -> str:
        return f"params={self.params.name},compute={self.compute.name},output={self.output.name}"

    @classmethod
    def parse(cls, spec: str) -> Policy:
        """A policy from a string: ``"params=float32,compute=bfloat16,output=float32"``.

        Keys are ``params``/``p``, ``compute``/``c``, ``output``/``o``; missing keys are float32. A single
        dtype name (``"bfloat16"``) sets all three, as in jmp.

        Args:
          spec: the policy string.

        Returns:
          The :class:`Policy`.

        Raises:
          PolicyError: not a string, an unknown or repeated key, or a part without ``=``.
          DTypeError: an unknown or non-floating dtype.

        Example:
          >>> from torsh import amp
          >>> amp.Policy.parse("compute=float16")
          Policy(params=float32, compute=float16, output=float32)
          >>> amp.Policy.parse("half")
          Policy(params=float16, compute=float16, output=float16)
        """
        if not isinstance(spec, str):
            raise PolicyError(f"amp.Policy.parse: expected a string, got {type(spec).__name__} {spec!r}")
        if "=" not in spec and "," not in spec:
            d = floating_dtype(spec, f"amp.Policy.parse({spec!r})")
            return cls(d, d, d)
        found: dict[str, str] = {}
        for part in spec.split(","):
            key, eq, value = part.partition("=")
            key = key.strip().lower()
            if not eq:
                raise PolicyError(
                    f"amp.Policy.parse({spec!r}): expected key=dtype parts separated by commas, got {part!r}"
                )
            if key not in _KEYS:
                raise PolicyError(
                    f"amp.Policy.parse({spec!r}): unknown key {key!r}; keys are params (p), compute (c), "
                    "output (o)"
                )
            name = _KEYS[key]
            if name in found:
                raise PolicyError(f"amp.Policy.parse({spec!r}): {name} is given twice")
            found[name] = value.strip()
        return cls(**{k: floating_dtype(v, f"amp.Policy.parse({spec!r}): {k}") for k, v in found.items()})

    @classmethod
    def coerce(cls, policy: Policy | str, what: str = "policy") -> Policy:
        """``policy`` itself, or :meth:`parse` of a string.

        Args:
          policy: a :class:`Policy` or a policy string.
          what: how error messages name the argument.

        Returns:
          The :class:`Policy`.

        Raises:
          PolicyError: neither a Policy nor a string (or a bad string).
          DTypeError: a bad dtype in the string.

        Example:
          >>> from torsh import amp
          >>> amp.Policy.coerce("c=bf16").compute.name
          'bfloat16'
        """
        if isinstance(policy, Policy):
            return policy
        if isinstance(policy, str):
            try:
                return cls.parse(policy)
            except (PolicyError, DTypeError) as e:
                raise type(e)(f"{what}: {e}") from None
        raise PolicyError(
            f"{what}: expected an amp.Policy or a policy string such as "
            f"'params=float32,compute=bfloat16,output=float32', got {type(policy).__name__} {policy!r}"
        )

    def cast_to_param(self, tree: Any) -> Any:
        """Cast the floating leaves of ``tree`` to :attr:`params`.

        Args:
          tree: any pytree (modules included; integer arrays and keys are left alone).

        Returns:
          The cast tree.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import amp
          >>> amp.Policy(params="bf16").cast_to_param({"w": jnp.ones(2)})["w"].dtype
          dtype(bfloat16)
        """
        return cast_floating(tree, self.params)

    def cast_to_compute(self, tree: Any) -> Any:
        """Cast the floating leaves of ``tree`` to :attr:`compute`.

        Args:
          tree: any pytree.

        Returns:
          The cast tree.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import amp
          >>> x = amp.Policy(compute="bf16").cast_to_compute((jnp.ones(2), jnp.arange(2)))
          >>> x[0].dtype, x[1].dtype
          (dtype(bfloat16), dtype('int32'))
        """
        return cast_floating(tree, self.compute)

    def cast_to_output(self, tree: Any) -> Any:
        """Cast the floating leaves of ``tree`` to :attr:`output`.

        Args:
          tree: any pytree.

        Returns:
          The cast tree.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import amp
          >>> amp.Policy().cast_to_output(jnp.ones(2, jnp.bfloat16)).dtype
          dtype('float32')
        """
        return cast_floating(tree, self.output)
