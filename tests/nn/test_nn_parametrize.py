"""torsh.nn.utils.parametrize / parametrizations against torch.nn.utils (f32 and f64).

Every check builds the torch module, parametrizes it with torch, gives torsh the same weights
(through the state dict, the way a user loads a torch checkpoint) and compares state-dict keys,
stored originals/buffers, outputs and gradients with respect to the originals.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils import parametrizations as TP
from torch.nn.utils import parametrize as TZ

import torsh
from torsh import nn
from torsh.nn.utils import parametrizations as P
from torsh.nn.utils import parametrize as Z

TOL = {torch.float32: (2e-5, 2e-6), torch.float64: (1e-10, 1e-12)}


F32, F64 = torch.float32, torch.float64


@pytest.fixture
def tdtype(request):
    """The case's torch dtype (parametrized indirectly); float64 cases run with JAX's x64 mode."""
    dt = getattr(request, "param", F32)
    if dt == F64:
        with jax.enable_x64(True):
            yield dt
    else:
        yield dt


def _np(t):
    return t.detach().cpu().numpy()


def _close(actual, expected, dt, what="", scale=1.0):
    rtol, atol = TOL[dt]
    np.testing.assert_allclose(
        np.asarray(actual, np.float64),
        np.asarray(expected, np.float64),
        rtol=rtol * scale,
        atol=atol * scale,
        err_msg=what,
    )


def _state(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: _np(v) for k, v in module.state_dict().items()}


def _plain_pair(kind: str, dt: torch.dtype, seed: int = 0):
    """A torch layer and a torsh layer of the same class holding the same weights."""
    torch.manual_seed(seed)
    jd = "float64" if dt == torch.float64 else "float32"
    if kind == "linear":
        t, s = torch.nn.Linear(5, 4), nn.Linear(5, 4, key=0, dtype=jd)
    elif kind == "linear_wide":
        t, s = torch.nn.Linear(6, 3), nn.Linear(6, 3, key=0, dtype=jd)
    elif kind == "square":
        t, s = torch.nn.Linear(4, 4), nn.Linear(4, 4, key=0, dtype=jd)
    elif kind == "conv":
        t, s = torch.nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3, key=0, dtype=jd)
    elif kind == "convT":
        t, s = torch.nn.ConvTranspose2d(3, 2, 3), nn.ConvTranspose2d(3, 2, 3, key=0, dtype=jd)
    else:
        raise AssertionError(kind)
    t = t.to(dt)
    return t, s.load_state_dict(_state(t))


def _input(kind: str, dt: torch.dtype, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = {
        "linear": (3, 5),
        "linear_wide": (3, 6),
        "square": (3, 4),
        "conv": (2, 3, 6, 6),
        "convT": (2, 3, 4, 4),
    }
    return rng.standard_normal(shape[kind]).astype(np.float64 if dt == torch.float64 else np.float32)


def _torch_loss_grads(t: torch.nn.Module, x: np.ndarray):
    t.zero_grad()
    out = t(torch.tensor(x))
    (out**2).sum().backward()
    grads = {k: _np(p.grad) for k, p in t.named_parameters()}
    return _np(out), grads


def _loss_and_out(m, x):
    out = m(x)
    return jnp.sum(out**2), out


# torsh's transforms (gradients for the trainable leaves only); one program per model structure
_grad = jax.jit(torsh.value_and_grad(_loss_and_out, has_aux=True))


def _compare(t, s, x, dt, scale=1.0):
    """Same keys, same stored values, same output and same gradients w.r.t. every torch parameter."""
    assert list(s.state_dict()) == list(t.state_dict())
    for k, v in _state(t).items():
        _close(s.state_dict()[k], v, dt, f"state {k}", scale)
    out_t, grads_t = _torch_loss_grads(t, x)
    (_, out), grads = _grad(s, jnp.asarray(x))
    _close(out, out_t, dt, "output", scale)
    g = grads.state_dict()
    for k, v in grads_t.items():
        _close(g[k], v, dt, f"grad {k}", scale * 10)


# -- weight_norm -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,dim,tdtype",
    [
        ("linear", 0, F32),
        ("linear", -1, F32),
        ("conv", -2, F32),
        ("conv", 1, F64),
    ],
    indirect=["tdtype"],
)
def test_weight_norm_matches_torch(kind, dim, tdtype):
    t, s = _plain_pair(kind, tdtype)
    t = TP.weight_norm(t, dim=dim)
    s = P.weight_norm(s, dim=dim)
    assert type(s).__name__ == f"Parametrized{type(t).__name__[len('Parametrized') :]}"
    assert isinstance(s, nn.Linear if kind == "linear" else nn.Conv2d)
    _close(s.weight, _np(t.weight), tdtype, "weight")
    # train torch one step so that g and v differ from the registration values, then load its checkpoint
    opt = torch.optim.SGD(t.parameters(), lr=0.1)
    _torch_loss_grads(t, _input(kind, tdtype, seed=5))
    opt.step()
    s = s.load_state_dict(_state(t))
    _compare(t, s, _input(kind, tdtype), tdtype)


class _TW(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(w))


class _SW(nn.Module):
    def __init__(self, w):
        self.weight = jnp.asarray(w)

    def forward(self):
        return self.weight


@settings(max_examples=examples(3))
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    dim_choice=st.integers(-5, 5),
    seed=st.integers(0, 100),
)
def test_weight_norm_any_shape_and_dim_matches_torch(shape, dim_choice, seed):
    """g has torch's shape and values for every rank and dim (None, -1 = whole tensor, negatives)."""
    ndim = len(shape)
    dim = None if dim_choice == 5 else max(-ndim, min(ndim - 1, dim_choice))
    w = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    t = TP.weight_norm(_TW(w), dim=dim)
    s = P.weight_norm(_SW(w), dim=dim)
    assert list(s.state_dict()) == list(t.state_dict())
    for k, v in _state(t).items():
        _close(s.state_dict()[k], v, F32, k)
    _close(s.weight, _np(t.weight), F32, "weight")
    _close(Z.remove_parametrizations(s, "weight").weight, w, F32, "removed")


# -- spectral_norm ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,n_iter,tdtype",
    [("linear_wide", 3, F64), ("conv", 1, F32), ("convT", 2, F64)],
    indirect=["tdtype"],
)
def test_spectral_norm_training_updates_match_torch(kind, n_iter, tdtype):
    t, s = _plain_pair(kind, tdtype)
    t = TP.spectral_norm(t, n_power_iterations=n_iter)
    s = P.spectral_norm(s, n_power_iterations=n_iter, key=3)
    assert list(s.state_dict()) == list(t.state_dict())
    s = s.load_state_dict(_state(t))  # torch's random u/v

    @jax.jit
    def step(m, x):
        (loss, m_new), g = jax.value_and_grad(
            lambda m: (lambda o: (jnp.sum(o[0] ** 2), o[1]))(nn.stateful(m)(x)), has_aux=True
        )(m)
        return loss, m_new, g

    for k in range(3):
        x = _input(kind, tdtype, seed=10 + k)
        out_t, grads_t = _torch_loss_grads(t, x)  # one training forward: one power-iteration update
        loss, s, g = step(s, jnp.asarray(x))
        _close(loss, float((out_t**2).sum()), tdtype, f"loss after step {k}", 10)
        for name in ("parametrizations.weight.0._u", "parametrizations.weight.0._v"):
            _close(
                s.state_dict()[name], _np(t.state_dict()[name]), tdtype, f"{name} after {k + 1} forwards", 10
            )
        gs = g.state_dict()
        for name, v in grads_t.items():
            _close(gs[name], v, tdtype, f"grad {name} at step {k}", 100)
    # eval mode: the vectors are used as stored and stay unchanged
    t.eval()
    s = s.eval()
    u_before = np.asarray(s.state_dict()["parametrizations.weight.0._u"])
    x = _input(kind, tdtype, seed=20)
    out, s_after = nn.stateful(s)(jnp.asarray(x))
    _close(out, _np(t(torch.tensor(x))), tdtype, "eval output", 10)
    assert s_after is s
    np.testing.assert_array_equal(np.asarray(s.state_dict()["parametrizations.weight.0._u"]), u_before)
    assert list(s.state_dict()) == list(t.state_dict())


def test_spectral_norm_registration_runs_torch_iterations():
    """Registering in training mode runs 15 + n_power_iterations steps (torch's consistency check
    evaluates the parametrization once), in eval mode 15: registering in training mode equals
    registering in eval mode and then one training forward, in torch and in torsh alike."""
    key = "parametrizations.weight.0._u"
    t_plain, s_plain = _plain_pair("linear", F32)
    torch.manual_seed(7)
    t_train = TP.spectral_norm(__import__("copy").deepcopy(t_plain), n_power_iterations=2)
    torch.manual_seed(7)
    t_eval = TP.spectral_norm(__import__("copy").deepcopy(t_plain).eval(), n_power_iterations=2)
    u_eval_t = _np(t_eval.state_dict()[key]).copy()
    t_eval.train()
    with torch.no_grad():
        t_eval(torch.ones(1, 5))
    np.testing.assert_allclose(_np(t_eval.state_dict()[key]), _np(t_train.state_dict()[key]), atol=1e-6)
    assert not np.allclose(u_eval_t, _np(t_train.state_dict()[key]), atol=1e-7)

    s_train = P.spectral_norm(s_plain, n_power_iterations=2, key=4)
    s_eval = P.spectral_norm(s_plain.eval(), n_power_iterations=2, key=4)
    _, s_stepped = nn.stateful(s_eval.train())(jnp.ones((1, 5)))
    np.testing.assert_allclose(s_train.state_dict()[key], s_stepped.state_dict()[key], atol=1e-6)
    assert not np.allclose(s_train.state_dict()[key], s_eval.state_dict()[key], atol=1e-7)
    # after 15+ steps sigma is estimated well: the weight's largest singular value is ~1
    for mod in (s_train, s_eval):
        w = np.asarray(mod.eval().weight)
        assert abs(np.linalg.svd(w, compute_uv=False)[0] - 1) < 1e-3


def test_spectral_norm_one_dim_weight_is_normalized(tdtype):
    class Vec(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(5, dtype=tdtype))

        def forward(self, x):
            return x * self.weight

    class SVec(nn.Module):
        def __init__(self, w):
            self.weight = w

        def forward(self, x):
            return x * self.weight

    t = TP.spectral_norm(Vec())
    s = P.spectral_norm(SVec(jnp.asarray(_np(t.parametrizations.weight.original))))
    assert list(s.state_dict()) == list(t.state_dict()) == ["parametrizations.weight.original"]
    _close(s.weight, _np(t.weight), tdtype, "normalized weight")


# -- orthogonal ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,omap,triv,tdtype",
    [
        ("square", "cayley", True, F64),
        ("linear", None, True, F64),
        ("linear_wide", "matrix_exp", True, F32),
        ("linear", "householder", False, F32),
    ],
    indirect=["tdtype"],
)
def test_orthogonal_matches_torch(kind, omap, triv, tdtype):
    t, s = _plain_pair(kind, tdtype)
    t = TP.orthogonal(t, orthogonal_map=omap, use_trivialization=triv)
    s = P.orthogonal(s, orthogonal_map=omap, use_trivialization=triv, key=1)
    assert list(s.state_dict()) == list(t.state_dict())
    if kind == "square" or not triv:  # deterministic registration: the stored arrays equal torch's
        for k, v in _state(t).items():
            _close(s.state_dict()[k], v, tdtype, f"registered {k}", 10)
        _close(s.weight, _np(t.weight), tdtype, "weight after registration", 10)
    w = np.asarray(s.weight)
    q = w if w.shape[0] >= w.shape[1] else w.T
    np.testing.assert_allclose(q.T @ q, np.eye(q.shape[1]), atol=1e-5)
    # move away from the registration point (a random original), then compare values and gradients
    with torch.no_grad():
        orig = t.parametrizations.weight.original
        orig.add_(0.3 * torch.randn(orig.shape, generator=torch.Generator().manual_seed(2), dtype=tdtype))
    s = s.load_state_dict(_state(t))
    _compare(t, s, _input(kind, tdtype), tdtype, scale=50)


def test_orthogonal_without_trivialization_keeps_the_weight_for_exp_and_cayley():
    """torch's right_inverse raises NotImplementedError there, which registration treats as identity."""
    t, s = _plain_pair("linear", F32)
    t = TP.orthogonal(t, orthogonal_map="cayley", use_trivialization=False)
    s = P.orthogonal(s, orthogonal_map="cayley", use_trivialization=False)
    assert list(s.state_dict()) == list(t.state_dict())
    for k, v in _state(t).items():
        np.testing.assert_array_equal(s.state_dict()[k], v)


# -- parametrize: register / append / remove / assign ------------------------------------------------
class TSymmetric(torch.nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).T

    def right_inverse(self, A):
        return A.triu()


class Symmetric(nn.Module):
    def forward(self, X):
        return jnp.triu(X) + jnp.triu(X, 1).T

    def right_inverse(self, A):
        return jnp.triu(A)


class TScale(torch.nn.Module):
    def forward(self, X):
        return 2 * X

    def right_inverse(self, Y):
        return Y / 2


class Scale(nn.Module):
    def forward(self, X):
        return 2 * X

    def right_inverse(self, Y):
        return Y / 2


def test_register_append_assign_remove_match_torch(tdtype):
    t, s = _plain_pair("square", tdtype)
    s0 = s
    t = TZ.register_parametrization(t, "weight", TScale())
    s = Z.register_parametrization(s, "weight", Scale())
    assert s0.__class__ is nn.Linear and "weight" in dict(s0.named_parameters())  # the argument is unchanged
    t = TZ.register_parametrization(t, "weight", TSymmetric())
    s = Z.register_parametrization(s, "weight", Symmetric())
    assert list(s.state_dict()) == list(t.state_dict())
    _compare(t, s, _input("square", tdtype), tdtype)
    # assignment goes through right_inverse (torch: module.weight = X; torsh: replace(weight=X))
    X = np.random.default_rng(3).standard_normal((4, 4))
    X = (X + X.T).astype(_np(t.bias).dtype)
    with torch.no_grad():
        t.weight = torch.tensor(X)
    s = s.replace(weight=jnp.asarray(X))
    _close(s.parametrizations["weight"].original, _np(t.parametrizations.weight.original), tdtype, "assigned")
    _close(s.weight, X, tdtype, "assigned weight")
    state = t.state_dict()
    for leave in (True, False):
        tt = _plain_pair("square", tdtype)[0]  # a fresh torch model: removing edits the class in place
        TZ.register_parametrization(tt, "weight", TScale())
        TZ.register_parametrization(tt, "weight", TSymmetric())
        tt.load_state_dict(state)
        tt = TZ.remove_parametrizations(tt, "weight", leave_parametrized=leave)
        ss = Z.remove_parametrizations(s, "weight", leave_parametrized=leave)
        assert type(ss) is nn.Linear and sorted(ss.state_dict()) == sorted(tt.state_dict())
        _close(ss.weight, _np(tt.weight), tdtype, f"removed, leave_parametrized={leave}")
        assert "weight" in dict(ss.named_parameters())
    assert Z.is_parametrized(s) and Z.is_parametrized(s, "weight") and not Z.is_parametrized(s, "bias")
    assert Z.type_before_parametrizations(s) is nn.Linear


def test_two_tensors_parametrized_and_removed_one_at_a_time():
    _, s = _plain_pair("square", torch.float32)
    s = P.weight_norm(Z.register_parametrization(s, "bias", Scale()))
    assert type(s).__name__ == "ParametrizedLinear" and Z.is_parametrized(s, "bias")
    keys = list(s.state_dict())
    assert keys == [
        "parametrizations.bias.original",
        "parametrizations.weight.original0",
        "parametrizations.weight.original1",
    ]
    s1 = Z.remove_parametrizations(s, "bias")
    assert (
        Z.is_parametrized(s1)
        and not Z.is_parametrized(s1, "bias")
        and type(s1).__name__ == "ParametrizedLinear"
    )
    s2 = Z.remove_parametrizations(s1, "weight")
    assert type(s2) is nn.Linear and list(s2.state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize("tdtype", [F64], indirect=True)
def test_nested_path_in_sequential_loads_torch_checkpoint(tdtype):
    torch.manual_seed(0)
    t = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).to(tdtype)
    TP.weight_norm(t[2])
    TP.spectral_norm(t[0])
    t.eval()
    jd = "float64" if tdtype == torch.float64 else "float32"
    s = nn.Sequential(nn.Linear(5, 6, key=0, dtype=jd), nn.Tanh(), nn.Linear(6, 3, key=1, dtype=jd))
    s = P.spectral_norm(P.weight_norm(s, "2.weight"), "0.weight", key=2).eval()
    assert type(s) is nn.Sequential and type(s[2]).__name__ == "ParametrizedLinear"
    s = s.load_state_dict(_state(t))  # a torch checkpoint of the parametrized model
    _compare(t, s, np.random.default_rng(0).standard_normal((4, 5)).astype(_np(t[0].bias).dtype), tdtype, 10)
    back = Z.remove_parametrizations(s, "2.weight")
    assert type(back[2]) is nn.Linear and "2.weight" in back.state_dict()


def test_frozen_parameter_stays_frozen():
    _, s = _plain_pair("linear", torch.float32)
    s = P.weight_norm(s.freeze("weight"))
    assert s.num_parameters(trainable_only=True) == 4  # only the bias
    s = Z.remove_parametrizations(s, "weight")
    assert s.num_parameters(trainable_only=True) == 4


def test_buffer_stays_a_buffer():
    class WithBuf(nn.Module):
        def __init__(self):
            self.register_buffer("mat", jnp.eye(3) * 2.0)

        def forward(self, x):
            return x @ self.mat

    m = Z.register_parametrization(WithBuf(), "mat", Scale())
    assert [k for k, _ in m.named_buffers()] == ["parametrizations.mat.original"]
    np.testing.assert_allclose(m(jnp.ones((1, 3))), [[2.0, 2.0, 2.0]])
    assert [k for k, _ in Z.remove_parametrizations(m, "mat").named_buffers()] == ["mat"]


# -- bad input -------------------------------------------------------------------------------------
def test_errors_name_the_module_path_and_the_parameter():
    s = nn.Sequential(nn.Linear(3, 3, key=0), nn.ReLU(), nn.Linear(3, 2, bias=False, key=1))
    with pytest.raises(
        torsh.errors.ConfigError, match=r"'2' \(Linear\) has no parameter or buffer named 'foo'"
    ):
        P.weight_norm(s, "2.foo")
    with pytest.raises(
        torsh.errors.ConfigError,
        match=r"'2' \(Linear\) has no parameter or buffer named 'bias' \(it is None\)",
    ):
        P.spectral_norm(s, "2.bias")
    with pytest.raises(torsh.errors.ConfigError, match="no sub-module at path '5'"):
        P.orthogonal(s, "5.weight")
    with pytest.raises(
        nn.IndexOutOfRangeError, match=r"'2' \(Linear\)\.weight of shape \[2, 3\].*\[-2, 1\], but got 2"
    ):
        P.weight_norm(s, "2.weight", dim=2)
    with pytest.raises(IndexError, match="dimension out of range"):
        P.spectral_norm(s, "0.weight", dim=-3)
    with pytest.raises(torsh.errors.ShapeError, match=r"'0' \(Linear\)\.bias, got a tensor of 1 dimensions"):
        P.orthogonal(s, "0.bias")
    with pytest.raises(torsh.errors.ConfigError, match="orthogonal_map has to be one of"):
        P.orthogonal(s, "0.weight", orthogonal_map="qr")
    with pytest.raises(torsh.errors.ConfigError, match="n_power_iterations"):
        P.spectral_norm(s, "0.weight", n_power_iterations=0)
    wn = P.weight_norm(s, "0.weight")
    with pytest.raises(
        torsh.errors.ConfigError, match=r"'0' \(ParametrizedLinear\)\.weight is already parametrized"
    ):
        P.weight_norm(wn, "0.weight")
    with pytest.raises(torsh.errors.ConfigError, match=r"'2' \(Linear\) has no parametrization on 'weight'"):
        Z.remove_parametrizations(wn, "2.weight")
    with pytest.raises(torsh.errors.ConfigError, match="leave_parametrized=False"):
        Z.remove_parametrizations(wn, "0.weight", leave_parametrized=False)
    with pytest.raises(torsh.errors.ConfigError, match="must be an nn.Module"):
        Z.register_parametrization(s, "0.weight", lambda w: w)  # type: ignore[arg-type]

    class Shrink(nn.Module):
        def forward(self, X):
            return X[:1]

    with pytest.raises(
        torsh.errors.ShapeError,
        match=r"may not change the shape of 'weight'.*expected \[3, 3\], got \[1, 3\]",
    ):
        Z.register_parametrization(s, "0.weight", Shrink())
    assert Z.register_parametrization(s, "0.weight", Shrink(), unsafe=True)[0].weight.shape == (1, 3)
    # spectral norm, training mode, called directly: the error says what to write
    sn = P.spectral_norm(s, "0.weight", key=0)
    with pytest.raises(
        torsh.errors.ConfigError, match=r"0\.parametrizations\.weight\.0 .*nn\.stateful\(model\)"
    ):
        sn(jnp.ones((1, 3)))


def test_spectral_norm_twice_appends_like_torch():
    t, s = _plain_pair("linear", torch.float32)
    t = TP.spectral_norm(TP.spectral_norm(t))
    s = P.spectral_norm(P.spectral_norm(s, key=0), key=1)
    assert list(s.state_dict()) == list(t.state_dict())
    s = s.load_state_dict(_state(t)).eval()
    t.eval()
    _compare(t, s, _input("linear", torch.float32), torch.float32, 10)


# -- parameters_to_vector / vector_to_parameters / clipping re-exports -------------------------------
def test_parameter_vectors_match_torch():
    from torsh.nn.utils import parameters_to_vector, vector_to_parameters

    t, s = _plain_pair("conv", torch.float32)
    vec_t = torch.nn.utils.parameters_to_vector(t.parameters())
    np.testing.assert_array_equal(parameters_to_vector(s.parameters()), _np(vec_t))
    np.testing.assert_array_equal(parameters_to_vector(s), _np(vec_t))
    new = torch.arange(vec_t.numel(), dtype=torch.float32)
    torch.nn.utils.vector_to_parameters(new, t.parameters())
    s2 = vector_to_parameters(jnp.asarray(_np(new)), s)
    for k, v in _state(t).items():
        np.testing.assert_array_equal(s2.state_dict()[k], v)
    pieces = vector_to_parameters(jnp.asarray(_np(new)), list(s.parameters()))
    assert [p.shape for p in pieces] == [p.shape for p in s.parameters()]
    with pytest.raises(torsh.errors.ShapeError, match="expected a 1-D vec of 112 elements"):
        vector_to_parameters(jnp.zeros(3), s)
    with pytest.raises(torsh.errors.ConfigError, match="expected vec to be an array"):
        vector_to_parameters([1.0], s)  # type: ignore[arg-type]
    assert nn.utils.clip_grad_norm is torsh.optim.clip_grad_norm
    assert nn.utils.clip_grad_value is torsh.optim.clip_grad_value


def test_traced_geqrf_matches_lapack():
    """Inside jit (assigning a weight under householder without trivialization) geqrf is jnp code."""
    from torsh.nn.utils.parametrizations import _geqrf

    a = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    h, tau = jax.jit(_geqrf)(jnp.asarray(a))
    h_t, tau_t = torch.geqrf(torch.tensor(a))
    np.testing.assert_allclose(h, _np(h_t), atol=1e-5)
    np.testing.assert_allclose(tau, _np(tau_t), atol=1e-5)


def test_transfer_parametrizations_and_cached_match_torch():
    t_from, s_from = _plain_pair("linear", F32)
    TP.weight_norm(t_from)
    TZ.register_parametrization(t_from, "bias", TScale())
    s_from = Z.register_parametrization(P.weight_norm(s_from), "bias", Scale())
    with torch.no_grad():  # originals away from their registration values
        t_from.parametrizations.weight.original0.mul_(1.5)
        t_from.parametrizations.bias.original.add_(0.25)
    s_from = s_from.load_state_dict(_state(t_from))
    t_to, s_to = _plain_pair("linear", F32, seed=1)
    t_to = TZ.transfer_parametrizations_and_params(t_from, t_to)
    s_to = Z.transfer_parametrizations_and_params(s_from, s_to)
    assert sorted(s_to.state_dict()) == sorted(t_to.state_dict())
    for k, v in _state(t_to).items():
        _close(s_to.state_dict()[k], v, F32, k)
    _close(s_to.weight, _np(t_to.weight), F32, "transferred weight")
    _close(s_to.bias, _np(t_to.bias), F32, "transferred bias")
    with pytest.raises(torsh.errors.ConfigError, match="has no parametrization on 'foo'"):
        Z.transfer_parametrizations_and_params(s_from, s_to, "foo")

    calls = []

    class Counted(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x

    layer = Z.register_parametrization(s_to, "weight", Counted())
    calls.clear()
    with Z.cached():
        w1, w2 = layer.weight, layer.weight
    assert len(calls) == 1 and w1 is w2
    _ = layer.weight, layer.weight
    assert len(calls) == 3  # outside the block: computed on every access, as in torch
