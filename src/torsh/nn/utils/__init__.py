"""torsh.nn.utils: PyTorch's ``torch.nn.utils`` for immutable modules.

* :mod:`~torsh.nn.utils.parametrize` and :mod:`~torsh.nn.utils.parametrizations`: tensors computed
  from other arrays (``weight_norm``, ``spectral_norm``, ``orthogonal``, your own), with PyTorch's
  state-dict keys. Every function returns a new module.
* :func:`parameters_to_vector` / :func:`vector_to_parameters` (pure: the latter returns new values).
* :func:`clip_grad_norm` / :func:`clip_grad_value`: the pure gradient clipping of :mod:`torsh.optim`
  (PyTorch's in-place ``clip_grad_norm_``/``clip_grad_value_``), re-exported here.

Example:
    >>> import torsh
    >>> from torsh import nn
    >>> layer = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2, key=0))
    >>> nn.utils.parametrize.is_parametrized(layer, "weight")
    True
"""

from ...optim._transforms import clip_grad_norm, clip_grad_value
from . import parametrizations, parametrize
from .convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = [
    "clip_grad_norm",
    "clip_grad_value",
    "parameters_to_vector",
    "parametrizations",
    "parametrize",
    "vector_to_parameters",
]
