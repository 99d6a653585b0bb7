"""Differentiation over pytrees and torsh modules: ``grad``, ``value_and_grad``, ``jacfwd``,
``jacrev``, ``hessian``, ``jvp``, ``vjp``.

Differentiated arguments are split into their trainable leaves (see
:func:`torsh.tree.trainable_mask`: floating, not a buffer, not frozen) and the rest; JAX
differentiates with respect to the trainable part only, and the result has ``None`` at every other
leaf. Integer leaves, buffers and static fields therefore pass through without error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from .. import tree as _tree
from ..errors import ConfigError, ShapeError
from ._args import ArgSpec, bind_to_positional, positional_names, resolve_positions

__all__ = ["grad", "value_and_grad", "jacfwd", "jacrev", "hessian", "jvp", "vjp"]


def _split_trainable(x: Any) -> tuple[Any, Any]:
    return _tree.partition(x, _tree.trainable_mask(x))


def _diff_wrapper(
    transform: Callable[..., Callable], fn: Callable, argnums: ArgSpec, what: str, **options: Any
) -> Callable:
    """Build ``wrapper(*args, **kwargs)`` that differentiates ``fn`` w.r.t. the trainable leaves of
    the arguments in ``argnums`` (names or positions) using the JAX ``transform``."""
    positions = resolve_positions(fn, argnums, f"{what}(argnums=...)")
    if not positions:
        raise ConfigError(f"{what}: argnums must name at least one argument, got {argnums!r}")
    if len(set(positions)) != len(positions):
        raise ConfigError(f"{what}: argnums {argnums!r} names an argument twice (positions {positions})")
    single = isinstance(argnums, (int, str))  # a bare argument gives a bare gradient, a tuple a tuple
    names = positional_names(fn) or []

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # A differentiated argument must be passed (by position or keyword): never differentiate a default.
        absent = [i for i in positions if i >= len(args) and not (i < len(names) and names[i] in kwargs)]
        if absent:
            raise ConfigError(
                f"{what}: differentiating argument {absent[0]}"
                f"{f' ({names[absent[0]]!r})' if absent[0] < len(names) else ''} of "
                f"{getattr(fn, '__name__', fn)}, but it was not passed (got {len(args)} positional "
                f"argument(s) and keywords {sorted(kwargs)})"
            )
        args, kwargs = bind_to_positional(fn, args, kwargs, positions)
        diffs, rests = [], []
        for i in positions:
            d, r = _split_trainable(args[i])
            diffs.append(d)
            rests.append(r)

        def inner(*diff_args: Any) -> Any:
            full = list(args)
            for i, d, r in zip(positions, diff_args, rests, strict=True):
                full[i] = _tree.combine(d, r)
            return fn(*full, **kwargs)

        # Same output conventions as JAX: one argument -> its tree; several -> a tuple of trees.
        jax_argnums = 0 if single else tuple(range(len(positions)))
        try:
            result = transform(inner, argnums=jax_argnums, **options)(*diffs)
        except TypeError as e:
            message = str(e)
            if "scalar-output" in message or "scalar output" in message:
                raise ShapeError(
                    f"{what} of {getattr(fn, '__name__', fn)}: expected a scalar (shape ()) output; {message}"
                ) from None
            raise
        return result

    return wrapper


def value_and_grad(
    fn: Callable, argnums: ArgSpec = 0, has_aux: bool = False, *, holomorphic: bool = False
) -> Callable:
    """Return a function computing ``fn``'s value and its gradient (``loss.backward()`` in one call).

    Args:
        fn: Function returning a scalar (or ``(scalar, aux)`` with ``has_aux=True``).
        argnums: The argument(s) to differentiate, by position or parameter name; a tuple gives a
            tuple of gradients.
        has_aux: ``fn`` returns ``(value, aux)``; the result is then ``((value, aux), grads)``.
        holomorphic: As in :func:`jax.grad`.

    Returns:
        A function returning ``(value, grads)``: ``grads`` has the structure of the argument with ``None``
        at leaves that are not trainable (integers, buffers, frozen parameters).

    Raises:
        ConfigError: If ``argnums`` names no argument, an argument twice, an unknown parameter, or an
            argument the call does not pass.
        ShapeError: From the returned function, if ``fn``'s value is not a scalar.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> params = {"w": jnp.array([1.0, 2.0]), "steps": jnp.array(3)}
        >>> loss, g = torsh.value_and_grad(lambda p, x: (p["w"] * x).sum(), argnums="p")(params, 2.0)
        >>> float(loss), g["w"].tolist(), g["steps"]
        (6.0, [2.0, 2.0], None)
    """
    return _diff_wrapper(
        jax.value_and_grad, fn, argnums, "value_and_grad", has_aux=has_aux, holomorphic=holomorphic
    )


def grad(fn: Callable, argnums: ArgSpec = 0, has_aux: bool = False, *, holomorphic: bool = False) -> Callable:
    """Return a function computing the gradient of scalar ``fn`` (see :func:`value_and_grad`).

    The PyTorch ``loss.backward(); p.grad`` becomes ``grads = torsh.grad(loss_fn)(model, ...)``: the
    gradient has the model's structure (a module of gradients), ``None`` at non-trainable leaves.

    Args:
        fn: Function returning a scalar (or ``(scalar, aux)`` with ``has_aux=True``).
        argnums: The argument(s) to differentiate, by position or parameter name; a tuple gives a
            tuple of gradients.
        has_aux: ``fn`` returns ``(value, aux)``; the result is then ``(grads, aux)``.
        holomorphic: As in :func:`jax.grad`.

    Returns:
        A function with ``fn``'s arguments returning the gradients.

    Raises:
        ConfigError: If ``argnums`` names no argument, an argument twice, an unknown parameter, or an
            argument the call does not pass.
        ShapeError: From the returned function, if ``fn``'s value is not a scalar.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh import nn
        >>> torsh.grad(lambda x: (x ** 2).sum())(jnp.array([1.0, 3.0])).tolist()
        [2.0, 6.0]
        >>> model = nn.Linear(3, 2, key=torsh.random.key(0))
        >>> grads = torsh.grad(lambda m, x: (m(x) ** 2).mean())(model, jnp.ones((4, 3)))
        >>> type(grads).__name__, grads.weight.shape, grads.bias.shape
        ('Linear', (2, 3), (2,))
    """
    return _diff_wrapper(jax.grad, fn, argnums, "grad", has_aux=has_aux, holomorphic=holomorphic)


def _jacobian(kind: str, jax_transform: Callable, mode: str, good_for: str, example: str) -> Callable:
    """The public ``jacfwd``/``jacrev``: ``_diff_wrapper`` over the JAX transform, with its docstring."""

    def jacobian(
        fn: Callable, argnums: ArgSpec = 0, has_aux: bool = False, *, holomorphic: bool = False
    ) -> Callable:
        return _diff_wrapper(jax_transform, fn, argnums, kind, has_aux=has_aux, holomorphic=holomorphic)

    jacobian.__name__ = jacobian.__qualname__ = kind
    jacobian.__doc__ = f"""Jacobian of ``fn`` by {mode}-mode autodiff (efficient for {good_for}).

    Args:
        fn: The function to differentiate.
        argnums: The argument(s) to differentiate, by position or parameter name; a tuple gives a
            tuple of Jacobians.
        has_aux: ``fn`` returns ``(output, aux)``; the result is then ``(jacobian, aux)``.
        holomorphic: As in :func:`jax.{kind}`.

    Returns:
        A function with ``fn``'s arguments returning the Jacobian: for every output leaf, the trainable
        input leaves' structure (an array argument of shape ``s`` and output of shape ``o`` give an
        array of shape ``o + s``).

    Raises:
        ConfigError: If ``argnums`` names no argument, an argument twice, an unknown parameter, or an
            argument the call does not pass.
        ShapeError: Shared with :func:`grad` (a non-scalar output), but Jacobians of any output shape
            are computed, so it is not raised here.

    Example:
        >>> import torsh, jax.numpy as jnp
        {example}
    """
    return jacobian


jacfwd = _jacobian(
    "jacfwd",
    jax.jacfwd,
    "forward",
    "few inputs, many outputs",
    """>>> torsh.jacfwd(lambda x: x ** 2)(jnp.array([1.0, 2.0])).tolist()
        [[2.0, 0.0], [0.0, 4.0]]""",
)
jacrev = _jacobian(
    "jacrev",
    jax.jacrev,
    "reverse",
    "many inputs, few outputs",
    """>>> torsh.jacrev(lambda x: x.sum() * x)(jnp.array([1.0, 2.0])).tolist()
        [[4.0, 1.0], [2.0, 5.0]]""",
)


def hessian(
    fn: Callable, argnums: ArgSpec = 0, has_aux: bool = False, *, holomorphic: bool = False
) -> Callable:
    """Hessian of scalar ``fn`` (forward-over-reverse), like ``torch.autograd.functional.hessian``.

    Args:
        fn: The function to differentiate.
        argnums: The argument(s) to differentiate, by position or parameter name; a tuple gives a
            tuple of results.
        has_aux: ``fn`` returns ``(output, aux)``; the result is then ``(result, aux)``.
        holomorphic: As in :func:`jax.grad`.

    Returns:
        A function with ``fn``'s arguments returning the Hessian (for an array argument of shape ``s``,
        an array of shape ``s + s``).

    Raises:
        ConfigError: If ``argnums`` names no argument, an argument twice, an unknown parameter, or an
            argument the call does not pass.
        ShapeError: Shared with :func:`grad` (a non-scalar output), but a Hessian of any output shape is
            computed, so it is not raised here.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> torsh.hessian(lambda x: (x ** 3).sum())(jnp.array([1.0, 2.0])).tolist()
        [[6.0, 0.0], [0.0, 12.0]]
    """
    return _diff_wrapper(jax.hessian, fn, argnums, "hessian", has_aux=has_aux, holomorphic=holomorphic)


def jvp(fn: Callable, primals: tuple, tangents: tuple, has_aux: bool = False) -> tuple:
    """Forward-mode Jacobian-vector product: ``(fn(*primals), J @ tangents)`` (``jax.jvp``).

    Args:
        fn: The function.
        primals: One value per argument of ``fn`` (a tuple).
        tangents: One tangent per primal, of the same structure.
        has_aux: ``fn`` returns ``(output, aux)``; the result is then ``(output, tangent_out, aux)``.

    Returns:
        ``(fn(*primals), tangent_out)``.

    Raises:
        ConfigError: If ``primals`` or ``tangents`` is not a tuple, or their lengths differ.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> y, t = torsh.jvp(lambda x: x ** 2, (jnp.array(3.0),), (jnp.array(1.0),))
        >>> float(y), float(t)
        (9.0, 6.0)
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise ConfigError("jvp: primals and tangents must be tuples with one entry per argument")
    if len(primals) != len(tangents):
        raise ConfigError(f"jvp: got {len(primals)} primals but {len(tangents)} tangents")
    return jax.jvp(fn, tuple(primals), tuple(tangents), has_aux=has_aux)


def vjp(fn: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """Reverse-mode: ``(fn(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` returns one cotangent per primal.

    Like ``jax.vjp`` (and ``torch.autograd.grad`` with ``grad_outputs=``).

    Args:
        fn: The function.
        *primals: Its arguments.
        has_aux: ``fn`` returns ``(output, aux)``; the result is then ``(output, vjp_fn, aux)``.

    Returns:
        ``(fn(*primals), vjp_fn)``.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> y, pullback = torsh.vjp(lambda x: x ** 2, jnp.array(3.0))
        >>> float(pullback(jnp.array(1.0))[0])
        6.0
    """
    if has_aux:  # two calls: jax.vjp's overloads type has_aux as a Literal
        return jax.vjp(fn, *primals, has_aux=True)
    return jax.vjp(fn, *primals)
