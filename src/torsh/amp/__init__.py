"""torsh.amp: mixed precision (bfloat16/float16 compute, float32 master weights) for existing models.

``amp.apply(model, "params=float32,compute=bfloat16,output=float32")`` returns the model wrapped so
that every layer computes in bfloat16 (normalisation layers in float32 by default), while parameters,
gradients and optimizer states stay float32 and the model's output (so the loss) is float32. Per-module
overrides select modules by dotted path glob or class. For float16, pair it with
:class:`torsh.optim.DynamicLossScale` (see the guide, docs/amp.md).

Example:
    >>> import torsh, jax.numpy as jnp
    >>> from torsh import amp, nn
    >>> torsh.manual_seed(0)
    >>> model = amp.apply(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), "c=bf16")
    >>> model(jnp.ones((2, 4))).dtype
    dtype('float32')
"""

from __future__ import annotations

from ._apply import NORM_LAYERS, AmpModel, apply, autocast
from ._errors import PolicyError
from ._policy import Policy

__all__ = ["NORM_LAYERS", "AmpModel", "Policy", "PolicyError", "apply", "autocast"]
