"""``weight_norm``, ``spectral_norm`` and ``orthogonal`` (``torch.nn.utils.parametrizations``).

Each returns a new module whose tensor is parametrized as PyTorch's function does, with PyTorch's
state-dict keys and numbers (a torch checkpoint of the parametrized model loads with
``load_state_dict``). The tensor name may be a dotted path into a sub-module (``"2.weight"``).

``spectral_norm`` keeps PyTorch's power-iteration vectors as buffers ``parametrizations.weight.0._u``
and ``._v``. In training mode every evaluation of the weight runs ``n_power_iterations`` steps and
reports the new vectors the way BatchNorm reports running statistics: call the model through
``out, model = nn.stateful(model)(x)``; in eval mode the vectors are used as they are.

Example:
    >>> import torsh, jax.numpy as jnp
    >>> from torsh import nn
    >>> from torsh.nn.utils.parametrizations import spectral_norm
    >>> model = nn.Sequential(nn.Linear(3, 4, key=0), nn.ReLU(), nn.Linear(4, 2, key=1))
    >>> model = spectral_norm(model, "2.weight", key=2)
    >>> [k for k in model.state_dict() if k.startswith("2.")]  # doctest: +NORMALIZE_WHITESPACE
    ['2.bias', '2.parametrizations.weight.original',
     '2.parametrizations.weight.0._u', '2.parametrizations.weight.0._v']
    >>> out, model = nn.stateful(model)(jnp.ones((5, 3)))   # training: _u/_v are updated
    >>> model.eval()(jnp.ones((5, 3))).shape
    (5, 2)
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError, ShapeError
from ...tree import static
from .._errors import IndexOutOfRangeError
from .._utils import _is_int, resolve_key, shape_str
from ..conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..module import Module, buffer
from ..stateful import current_buffers, is_collecting, record_update
from .parametrize import _put, _where, register_parametrization, tensor_of

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]

M = TypeVar("M", bound=Module)


def _check_dim(fn: str, dim: Any, ndim: int, where: str) -> int:
    if not _is_int(dim):
        raise ConfigError(f"{fn}: dim must be an int, got {type(dim).__name__} {dim!r} ({where})")
    if not -ndim <= dim < ndim:
        raise IndexOutOfRangeError(
            f"{fn}: dimension out of range for {where} (expected to be in range of "
            f"[{-ndim}, {ndim - 1}], but got {dim})"
        )
    return int(dim)


# -- weight_norm ---------------------------------------------------------------------------------
def _norm_except_dim(v: jax.Array, dim: int) -> jax.Array:
    """``torch.norm_except_dim(v, 2, dim)``: the 2-norm over every axis but ``dim`` (-1: all axes)."""
    if dim == -1:
        return jnp.sqrt(jnp.sum(jnp.square(v)))
    axes = tuple(a for a in range(v.ndim) if a != dim % v.ndim)
    return jnp.sqrt(jnp.sum(jnp.square(v), axis=axes, keepdims=True))


class _WeightNorm(Module):
    """``weight = g * v / ||v||`` with the norm over every axis but ``dim`` (PyTorch's ``_WeightNorm``).

    As ``torch._weight_norm``, ``dim=-1`` (or None) means one norm over the whole tensor.
    """

    dim: int = static()

    def __init__(self, dim: int | None = 0) -> None:
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: jax.Array, weight_v: jax.Array) -> jax.Array:
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight: jax.Array) -> tuple[jax.Array, jax.Array]:
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module: M, name: str = "weight", dim: int | None = 0) -> M:
    """Weight normalisation ``w = g * v / ||v||`` (``torch.nn.utils.parametrizations.weight_norm``).

    The magnitude ``g`` is stored as ``parametrizations.<name>.original0`` and the direction ``v``
    as ``original1`` (PyTorch's keys). The norm is taken over every axis except ``dim``; ``dim=None``
    (and, as in PyTorch, ``dim=-1``) takes one norm over the whole tensor.

    Args:
      module: the module (unchanged).
      name: the parameter, or a dotted path into a sub-module (``"layers.2.weight"``).
      dim: the axis kept by the norm (one ``g`` per index along it).

    Returns:
      A copy of ``module`` with the parametrization registered.

    Raises:
      ConfigError: no such parameter (the message names the module path), a non-integer ``dim``.
      IndexOutOfRangeError: ``dim`` outside ``[-ndim, ndim - 1]``.

    Example:
      >>> import torsh
      >>> from torsh import nn
      >>> from torsh.nn.utils.parametrizations import weight_norm
      >>> layer = weight_norm(nn.Linear(4, 3, key=0))
      >>> {k: v.shape for k, v in layer.state_dict().items()}
      {'bias': (3,), 'parametrizations.weight.original0': (3, 1), 'parametrizations.weight.original1': (3, 4)}
    """
    fn = "weight_norm"
    path, owner, tensor, weight = tensor_of(module, name, fn, evaluate=False)
    if weight is not None and dim is not None:
        _check_dim(
            fn, dim, max(weight.ndim, 1), f"{_where(path, owner)}.{tensor} of shape {shape_str(weight.shape)}"
        )
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


# -- spectral_norm -------------------------------------------------------------------------------
def _normalize(x: jax.Array, eps: float) -> jax.Array:
    """``F.normalize(x, dim=0, eps=eps)`` for a vector."""
    return x / jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(x))), eps)


@functools.partial(jax.jit, static_argnums=(3, 4))  # one program instead of 4n small ones when eager
def _power_method(
    mat: jax.Array, u: jax.Array, v: jax.Array, n: int, eps: float
) -> tuple[jax.Array, jax.Array]:
    """``n`` steps of PyTorch's power iteration (no gradient flows through them)."""
    mat = jax.lax.stop_gradient(mat)
    for _ in range(n):
        u = _normalize(mat @ v, eps)
        v = _normalize(mat.conj().T @ u, eps)
    return u, v


@functools.partial(jax.jit, static_argnums=(2,))
def _initial_vectors(key: jax.Array, mat: jax.Array, eps: float) -> tuple[jax.Array, jax.Array]:
    """Random unit ``u``/``v``, then 15 power-iteration steps on the initial weight, as PyTorch."""
    ku, kv = jax.random.split(key)
    u = _normalize(jax.random.normal(ku, (mat.shape[0],), mat.dtype), eps)
    v = _normalize(jax.random.normal(kv, (mat.shape[1],), mat.dtype), eps)
    return _power_method(mat, u, v, 15, eps)


class _SpectralNorm(Module):
    """``weight / sigma`` with ``sigma`` from power iteration (PyTorch's ``_SpectralNorm``).

    ``_u`` and ``_v`` are buffers; in training mode each call runs ``n_power_iterations`` steps and
    reports the new vectors (see :func:`torsh.nn.stateful`).
    """

    _u: jax.Array | None = buffer(default=None)
    _v: jax.Array | None = buffer(default=None)
    dim: int = static(default=0)
    eps: float = static(default=1e-12)
    n_power_iterations: int = static(default=1)

    def __init__(
        self,
        weight: jax.Array,
        n_power_iterations: int = 1,
        dim: int = 0,
        eps: float = 1e-12,
        *,
        key: Any = None,
    ) -> None:
        ndim = weight.ndim
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        self.n_power_iterations = n_power_iterations
        self._u = None
        self._v = None
        if ndim > 1:
            self._u, self._v = _initial_vectors(resolve_key(key), self._matrix(weight), eps)

    def _matrix(self, weight: jax.Array) -> jax.Array:
        if self.dim != 0:
            weight = jnp.moveaxis(weight, self.dim, 0)
        return weight.reshape(weight.shape[0], -1)

    def forward(self, weight: jax.Array) -> jax.Array:
        if weight.ndim == 1:
            return _normalize(weight, self.eps)
        mat = self._matrix(weight)
        u, v = self._u, self._v
        assert u is not None and v is not None  # set in __init__ for ndim > 1
        if self.training:
            if not is_collecting():
                raise ConfigError(
                    "spectral_norm in training mode updates its power-iteration vectors (_u, _v): call the "
                    "model as `out, model = nn.stateful(model)(x)` to get them back (inside jit too), or "
                    "use `model.eval()` to keep them fixed"
                )
            seen = current_buffers(self)  # the weight may be used twice in one forward
            u, v = _power_method(mat, seen.get("_u", u), seen.get("_v", v), self.n_power_iterations, self.eps)
            record_update(self, _u=u, _v=v)
        u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
        sigma = jnp.vdot(u, mat @ v)
        return weight / sigma

    def right_inverse(self, value: jax.Array) -> jax.Array:
        return value


def spectral_norm(
    module: M,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
    *,
    key: Any = None,
) -> M:
    """Spectral normalisation ``w / sigma(w)`` (``torch.nn.utils.parametrizations.spectral_norm``).

    ``sigma`` is estimated by power iteration with vectors ``u``/``v`` kept as buffers
    ``parametrizations.<name>.0._u``/``._v`` (drawn from ``key``, then 15 steps, as PyTorch). In
    training mode each evaluation of the weight runs ``n_power_iterations`` steps first and reports
    the new vectors: call the model as ``out, model = nn.stateful(model)(x)`` (calling it directly
    in training mode raises); in eval mode the stored vectors are used. The weight is reshaped to a
    matrix with ``dim`` first (default 0, or 1 for ``ConvTranspose``); a 1-D weight is just divided
    by its norm.

    Args:
      module: the module (unchanged).
      name: the parameter, or a dotted path into a sub-module (``"layers.2.weight"``).
      n_power_iterations: power-iteration steps per training evaluation (positive).
      eps: lower bound of the norms, for numerical stability.
      dim: the axis of the output features.
      key: PRNG key for the initial ``u``/``v`` (default: the ``torsh.manual_seed`` stream).

    Returns:
      A copy of ``module`` with the parametrization registered.

    Raises:
      ConfigError: no such parameter (names the module path), ``n_power_iterations`` not positive.
      IndexOutOfRangeError: ``dim`` outside ``[-ndim, ndim - 1]`` (a 0-d weight has no valid ``dim``).

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> from torsh.nn.utils.parametrizations import spectral_norm
      >>> layer = spectral_norm(nn.Linear(4, 3, key=0), key=1).eval()
      >>> sigma = jnp.linalg.svd(layer.weight, compute_uv=False)[0]
      >>> round(float(sigma), 2)
      1.0
    """
    fn = "spectral_norm"
    path, owner, tensor, weight = tensor_of(module, name, fn)
    where = f"{_where(path, owner)}.{tensor} of shape {shape_str(weight.shape)}"
    if dim is None:
        dim = 1 if isinstance(owner, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    dim = _check_dim(fn, dim, weight.ndim, where)
    if not _is_int(n_power_iterations) or n_power_iterations <= 0:
        raise ConfigError(f"{fn}: expected n_power_iterations to be positive, but got {n_power_iterations!r}")
    sn = _SpectralNorm(jnp.asarray(weight), int(n_power_iterations), dim, float(eps), key=key)
    # torch evaluated the weight above (getattr): keep the buffers that updated, if any
    return register_parametrization(_put(module, path, owner), name, sn)


# -- orthogonal ----------------------------------------------------------------------------------
_MAPS = ("matrix_exp", "cayley", "householder")


def _mT(x: jax.Array) -> jax.Array:
    return jnp.swapaxes(x, -1, -2)


def _diag(x: jax.Array) -> jax.Array:
    return jnp.diagonal(x, axis1=-2, axis2=-1)


@jax.jit
def _make_orthogonal(a: jax.Array) -> jax.Array:
    """PyTorch's ``_make_orthogonal``: Q of the QR decomposition with R's diagonal made positive."""
    q, r = jnp.linalg.qr(a)
    return q * jnp.sign(_diag(r))[..., None, :]


@jax.jit
def _orthogonal_or_made(q: jax.Array) -> jax.Array:
    """``q`` if it is orthogonal (PyTorch's tolerance), else :func:`_make_orthogonal` of it."""
    return jnp.where(_is_orthogonal(q), q, _make_orthogonal(q))


def _is_orthogonal(q: jax.Array) -> jax.Array:
    n, k = q.shape[-2], q.shape[-1]
    eye = jnp.eye(k, dtype=q.dtype)
    atol = 10.0 * n * float(jnp.finfo(q.dtype).eps)
    return jnp.all(jnp.abs(_mT(q).conj() @ q - eye) <= atol + 1e-5 * jnp.abs(eye))


def _geqrf(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """LAPACK's ``geqrf`` (Householder QR: reflectors below the diagonal, R on and above, and tau).

    Concrete arrays (registration, assignment) go to LAPACK itself through numpy, as PyTorch's
    ``torch.geqrf`` does; traced ones to the same algorithm written with jnp ops.
    """
    if isinstance(a, jax.core.Tracer):
        return _geqrf_traced(a)
    x = np.asarray(a)
    h, tau = np.linalg.qr(x, mode="raw")  # LAPACK geqrf; h comes transposed (Fortran order)
    h = np.swapaxes(h, -1, -2)
    return jnp.asarray(h, x.dtype), jnp.asarray(tau, x.dtype)


@jax.jit
def _geqrf_traced(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:func:`_geqrf` with jnp ops (LAPACK's dlarfg reflectors, without its rescaling of tiny norms)."""
    a = jnp.asarray(a)
    m, n = a.shape[-2], a.shape[-1]
    taus = []
    for j in range(min(m, n)):
        alpha = a[..., j, j]
        x = a[..., j + 1 :, j]
        xnorm = jnp.sqrt(jnp.sum(jnp.square(x), axis=-1))
        zero = xnorm == 0
        beta = -jnp.where(alpha >= 0, 1.0, -1.0).astype(a.dtype) * jnp.sqrt(alpha**2 + xnorm**2)
        safe_beta = jnp.where(zero, 1.0, beta)
        tau = jnp.where(zero, 0.0, (beta - alpha) / safe_beta).astype(a.dtype)
        scale = jnp.where(zero, 0.0, 1.0 / jnp.where(zero, 1.0, alpha - beta))
        vtail = x * scale[..., None]
        vfull = jnp.concatenate([jnp.ones_like(alpha)[..., None], vtail], axis=-1)  # [..., m - j]
        rest = a[..., j:, j + 1 :]
        w = jnp.einsum("...i,...ik->...k", vfull, rest)
        rest = rest - tau[..., None, None] * vfull[..., :, None] * w[..., None, :]
        a = a.at[..., j:, j + 1 :].set(rest)
        a = a.at[..., j, j].set(jnp.where(zero, alpha, beta))
        a = a.at[..., j + 1 :, j].set(jnp.where(zero[..., None], x, vtail))
        taus.append(tau)
    return a, jnp.stack(taus, axis=-1)


def _householder_product(a: jax.Array, tau: jax.Array) -> jax.Array:
    """``torch.linalg.householder_product``: the first k columns of ``H_1 ... H_k`` (differentiable).

    ``H_j = I - tau_j v_j v_j^T`` with ``v_j`` = (0, ..., 0, 1, a[j+1:, j]); written with jnp ops
    because JAX's ``householder_product`` primitive has no derivative.
    """
    n, k = a.shape[-2], a.shape[-1]
    q = jnp.broadcast_to(jnp.eye(n, k, dtype=a.dtype), a.shape)
    rows = jnp.arange(n)
    for j in reversed(range(k)):
        v = jnp.where(rows == j, 1.0, jnp.where(rows > j, a[..., :, j], 0.0)).astype(a.dtype)
        w = jnp.einsum("...i,...ik->...k", v, q)
        q = q - tau[..., j, None, None] * v[..., :, None] * w[..., None, :]
    return q


class _Orthogonal(Module):
    """An orthogonal matrix (or batch) from an unconstrained one (PyTorch's ``_Orthogonal``)."""

    base: jax.Array | None = buffer(default=None)
    shape: tuple = static(default=())
    orthogonal_map: str = static(default="matrix_exp")
    use_trivialization: bool = static(default=True)

    def __init__(self, weight: jax.Array, orthogonal_map: str, *, use_trivialization: bool = True) -> None:
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        self.use_trivialization = bool(use_trivialization)
        self.base = None

    def forward(self, X: jax.Array) -> jax.Array:
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = _mT(X)
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = jnp.tril(X)
            if n != k:
                X = jnp.concatenate([X, jnp.zeros((*X.shape[:-2], n, n - k), X.dtype)], axis=-1)
            A = X - _mT(X).conj()
            if self.orthogonal_map == "matrix_exp":
                Q = jax.scipy.linalg.expm(A)
            else:
                eye = jnp.eye(n, dtype=A.dtype)
                Q = jnp.linalg.solve(eye - 0.5 * A, eye + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = jnp.tril(X, -1)
            tau = 2.0 / (1.0 + jnp.sum(A * A, axis=-2))
            Q = _householder_product(A, tau)
            # PyTorch multiplies by diag(X).int(): truncated toward zero, no gradient
            signs = jnp.trunc(jax.lax.stop_gradient(_diag(X)))
            Q = Q * signs[..., None, :]
        if self.base is not None:
            Q = self.base @ Q
        if transposed:
            Q = _mT(Q)
        return Q

    def right_inverse(self, Q: jax.Array, *, key: Any = None) -> jax.Array:
        if tuple(Q.shape) != self.shape:
            raise ShapeError(
                f"orthogonal: expected a matrix or batch of matrices of shape {shape_str(self.shape)}, "
                f"got {shape_str(Q.shape)}"
            )
        Q_init = Q
        n, k = Q.shape[-2], Q.shape[-1]
        transpose = n < k
        if transpose:
            Q = _mT(Q)
            n, k = k, n
        if not self.use_trivialization:
            if self.orthogonal_map in ("matrix_exp", "cayley"):
                raise NotImplementedError(
                    "It is not possible to assign to the matrix exponential or the Cayley parametrizations "
                    "when use_trivialization=False."
                )
            A, tau = _geqrf(Q)
            d = _diag(A)
            d = jnp.where(tau == 0.0, -jnp.sign(d), jnp.sign(d))
            idx = jnp.arange(k)
            A = A.at[..., idx, idx].set(d)
            return _mT(A) if transpose else A
        if n == k:
            Q = _orthogonal_or_made(Q)
        else:
            N = jax.random.normal(resolve_key(key), (*Q.shape[:-2], n, n - k), Q.dtype)
            Q = _make_orthogonal(jnp.concatenate([Q, N], axis=-1))
        if is_collecting():
            record_update(self, base=Q)
        neg_id = jnp.zeros_like(Q_init)
        idx = jnp.arange(min(Q_init.shape[-2:]))
        return neg_id.at[..., idx, idx].set(-1.0)


def orthogonal(
    module: M,
    name: str = "weight",
    orthogonal_map: str | None = None,
    *,
    use_trivialization: bool = True,
    key: Any = None,
) -> M:
    """Constrain a matrix (or batch) to be orthogonal (``torch.nn.utils.parametrizations.orthogonal``).

    ``orthogonal_map`` is ``"matrix_exp"`` (default for square matrices), ``"cayley"`` or
    ``"householder"`` (default for rectangular ones). With ``use_trivialization`` (the default) the
    current weight is kept as the buffer ``parametrizations.<name>.0.base`` (made orthogonal; a
    rectangular one is completed with random columns drawn from ``key``) and ``original`` starts at
    ``-I``, as in PyTorch. Keys: ``parametrizations.<name>.original`` (and ``.0.base``).

    Args:
      module: the module (unchanged).
      name: the parameter, or a dotted path into a sub-module (``"layers.2.weight"``).
      orthogonal_map: ``"matrix_exp"``, ``"cayley"``, ``"householder"`` or None (chosen by shape).
      use_trivialization: keep a ``base`` and parametrize relative to it.
      key: PRNG key for completing a rectangular weight (default: the ``torsh.manual_seed`` stream).

    Returns:
      A copy of ``module`` with the parametrization registered.

    Raises:
      ConfigError: no such parameter (names the module path), an unknown ``orthogonal_map``.
      ShapeError: a weight with fewer than 2 dimensions.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> from torsh.nn.utils.parametrizations import orthogonal
      >>> layer = orthogonal(nn.Linear(3, 3, key=0))
      >>> bool(jnp.allclose(layer.weight @ layer.weight.T, jnp.eye(3), atol=1e-5))
      True
    """
    fn = "orthogonal"
    path, owner, tensor, weight = tensor_of(module, name, fn)
    if weight.ndim < 2:
        raise ShapeError(
            f"{fn}: expected a matrix or batch of matrices for {_where(path, owner)}.{tensor}, got a tensor "
            f"of {weight.ndim} dimensions (shape {shape_str(weight.shape)})"
        )
    if orthogonal_map is None:
        square = weight.shape[-2] == weight.shape[-1]
        orthogonal_map = "matrix_exp" if square or jnp.iscomplexobj(weight) else "householder"
    if orthogonal_map not in _MAPS:
        raise ConfigError(
            f"{fn}: orthogonal_map has to be one of {', '.join(map(repr, _MAPS))}; got {orthogonal_map!r}"
        )
    if orthogonal_map == "householder" and jnp.iscomplexobj(weight):
        raise ConfigError(f"{fn}: the householder parametrization does not support complex tensors")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    return register_parametrization(_put(module, path, owner), name, orth, unsafe=True, key=key)
