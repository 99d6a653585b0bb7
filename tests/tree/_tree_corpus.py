"""A shared corpus of example pytrees (as optree's tests keep one), used by the tree and transform tests.

Every entry mixes the node kinds torsh must handle: dicts (unsorted keys), lists, tuples, ``None``,
namedtuples, and torsh structs with static fields, buffers, frozen fields, inline fields and a
hand-written ``__init__``; leaves are float/int/bool arrays, numpy arrays, Python scalars and strings.
``float_trees()`` are the entries whose leaves are all arrays (usable as differentiable parameters).
"""

from __future__ import annotations

import collections
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from torsh.tree import Struct, field, static


class Linear(Struct):
    """Hand-written PyTorch-style constructor; a static string and a static tuple."""

    weight: jax.Array
    bias: jax.Array | None
    activation: str = static("tanh")
    shape: tuple = static(())

    def __init__(self, d_in: int, d_out: int, seed: int = 0, bias: bool = True, activation: str = "tanh"):
        rng = np.random.default_rng(seed)
        self.weight = jnp.asarray(rng.standard_normal((d_out, d_in)), jnp.float32)
        self.bias = jnp.asarray(rng.standard_normal(d_out), jnp.float32) if bias else None
        self.activation = activation
        self.shape = (d_out, d_in)


class Norm(Struct):
    """Generated constructor; a buffer (running statistics) and an integer counter."""

    scale: jax.Array
    running_mean: jax.Array = field(buffer=True, default=None)
    steps: jax.Array = field(default=None)
    eps: float = static(1e-5)


class Partly(Struct):
    """A struct that reports one of its fields as frozen."""

    trainable: Any
    fixed: Any

    def _torsh_frozen_fields(self):
        return ("fixed",)


class Chain(Struct):
    """A container whose field name is left out of paths (like nn.Sequential)."""

    layers: list = field(inline=True)
    name: str = static("chain")


Point = collections.namedtuple("Point", ["x", "y"])


def _f(*shape: int, seed: int = 0) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def corpus() -> list[Any]:
    """Fresh example trees (new arrays each call)."""
    lin = Linear(3, 2, seed=1)
    norm = Norm(_f(2, seed=2), running_mean=_f(2, seed=3), steps=jnp.int32(4))
    return [
        None,
        (),
        [],
        {},
        _f(3),
        1.5,
        7,
        {"b": _f(2), "a": [_f(1, 2), None, (_f(3, seed=4), jnp.arange(3))], "c": {"z": None, "y": 2.5}},
        [(_f(2), {"k": np.ones(3, np.float32)}), "label", True],
        Point(_f(2), {"inner": [None, _f(1)]}),
        lin,
        Linear(2, 2, bias=False),
        norm,
        Partly(trainable={"w": _f(2, seed=5)}, fixed=[_f(3, seed=6)]),
        Chain([Linear(2, 3, seed=7), Norm(_f(3, seed=8)), Linear(3, 1, seed=9)]),
        {"encoder": Chain([lin, norm]), "head": Partly([_f(1)], (_f(2), jnp.array([1, 2], jnp.int8)))},
        [{"x": Norm(_f(1), steps=jnp.array(0, jnp.int32), eps=0.1)}, (None, _f(2, 2, seed=10))],
    ]


def float_trees() -> list[Any]:
    """Corpus entries with at least one array leaf and only array leaves (parameters)."""
    out = []
    for t in corpus():
        leaves = jax.tree_util.tree_leaves(t)
        if leaves and all(isinstance(x, jax.Array) for x in leaves):
            out.append(t)
    return out


def expected_trainable(tree: Any) -> list[bool]:
    """Trainable flag per leaf (in leaf order), computed independently of torsh.tree.trainable_mask:
    floating, and not below a buffer field nor a frozen field."""
    flags: list[bool] = []

    def walk(node: Any, allowed: bool) -> None:
        if node is None:
            return
        if isinstance(node, Struct):
            blocked = {f for f in type(node).__torsh_buffer_fields__}
            if hasattr(node, "_torsh_frozen_fields"):
                blocked |= set(node._torsh_frozen_fields())
            for name in type(node).__torsh_data_fields__:
                walk(getattr(node, name), allowed and name not in blocked)
            return
        if isinstance(node, dict):
            for k in sorted(node):
                walk(node[k], allowed)
            return
        if isinstance(node, (list, tuple)):
            for v in node:
                walk(v, allowed)
            return
        floating = (
            isinstance(node, (jax.Array, np.ndarray)) and jnp.issubdtype(node.dtype, jnp.inexact)
        ) or (isinstance(node, float))
        flags.append(bool(allowed and floating))

    walk(tree, True)
    return flags
