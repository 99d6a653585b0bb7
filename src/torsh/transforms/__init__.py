"""Composable transforms over pytrees and torsh modules.

``grad``/``value_and_grad`` take arguments by position or name and differentiate only trainable
leaves; ``jit`` takes static and donated arguments by name at no extra per-call cost; ``vmap`` and
``pmap`` take axes per parameter name; ``checkpoint`` takes policies by name; ``scan`` checks its
inputs. All are re-exported at the top level (``torsh.grad``, ``torsh.jit``, ...).

Example:
    >>> import torsh, jax.numpy as jnp
    >>> f = torsh.jit(torsh.vmap(torsh.grad(lambda x: jnp.sin(x))))
    >>> [round(v, 4) for v in f(jnp.array([0.0, 1.0])).tolist()]
    [1.0, 0.5403]
"""

from ._autodiff import grad, hessian, jacfwd, jacrev, jvp, value_and_grad, vjp
from ._collectives import all_gather, all_to_all, axis_index, pmax, pmean, pmin, ppermute, psum, psum_scatter
from ._control import checkpoint, checkpoint_policies, remat, scan
from ._jit import Explanation, explain, jit
from ._mapping import pmap, vmap
from ._programs import ProgramCacheWarning
from ._recompile import RecompileWarning

__all__ = [
    "grad",
    "value_and_grad",
    "jacfwd",
    "jacrev",
    "hessian",
    "jvp",
    "vjp",
    "jit",
    "explain",
    "Explanation",
    "RecompileWarning",
    "ProgramCacheWarning",
    "vmap",
    "pmap",
    "checkpoint",
    "remat",
    "checkpoint_policies",
    "scan",
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
