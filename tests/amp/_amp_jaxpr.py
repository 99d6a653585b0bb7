"""Which primitives ran in which dtype: a walk over a jaxpr and every jaxpr nested in it."""

from __future__ import annotations

import collections

import jax
from jax.extend.core import jaxprs_in_params


def op_dtypes(fn, *args) -> dict[str, collections.Counter]:
    """``{primitive: Counter(dtype of its first operand)}`` over ``jax.make_jaxpr(fn)(*args)``."""
    found: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    def walk(jaxpr) -> None:
        for eqn in jaxpr.eqns:
            avals = [v.aval for v in eqn.invars if hasattr(v.aval, "dtype")]
            if avals:
                found[eqn.primitive.name][str(avals[0].dtype)] += 1
            for sub in jaxprs_in_params(eqn.params):
                walk(sub)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return dict(found)
