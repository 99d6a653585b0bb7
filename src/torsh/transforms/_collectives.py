"""Collective operations over a named mapped axis (``vmap``/``pmap``/``shard_map`` ``axis_name``).

These are JAX's own primitives (``jax.lax``), exposed under torsh so that user code needs one
import. Inside ``torsh.vmap(..., axis_name="i")`` or ``torsh.pmap(..., axis_name="i")``:

Example:
    >>> import torsh, jax.numpy as jnp
    >>> torsh.vmap(lambda x: x / torsh.psum(x, "i"), axis_name="i")(jnp.array([1.0, 3.0])).tolist()
    [0.25, 0.75]
"""

from jax.lax import all_gather, all_to_all, axis_index, pmax, pmean, pmin, ppermute, psum, psum_scatter

__all__ = [
    "psum",
    "pmean",
    "pmax",
    "pmin",
    "all_gather",
    "all_to_all",
    "ppermute",
    "psum_scatter",
    "axis_index",
]
