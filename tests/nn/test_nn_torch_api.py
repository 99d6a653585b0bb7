"""API parity with torch.nn: forward argument names, constructor options, 0-d softmax inputs."""

from __future__ import annotations

import inspect

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import torsh
from torsh import nn

# torsh-only names, and torch base classes whose forward is not a layer's
_NOT_LAYERS = {
    "Module",
    "ModuleList",
    "ModuleDict",
    "RNNBase",
    "Lambda",
    "RotaryEmbedding",
    "SwiGLU",
    "GeGLU",
}


def _layer_classes():
    out = []
    for name in nn.__all__:
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.Module) and name not in _NOT_LAYERS:
            out.append(name)
    return sorted(out)


def _params(fn):
    return [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)
    ]


@pytest.mark.parametrize("name", _layer_classes())
def test_forward_argument_names_are_pytorchs(name):
    ref = getattr(torch.nn, name, None)
    assert ref is not None, f"torsh.nn.{name} has no torch.nn counterpart"
    ours = _params(getattr(nn, name).forward)
    theirs = _params(ref.forward)
    # torsh may add keyword-only arguments (key=); the positional/keyword names must be PyTorch's
    assert ours[: len(theirs)] == theirs, f"{name}.forward{ours} vs torch {theirs}"


@pytest.mark.parametrize(
    "layer,shape",
    [
        (lambda: nn.Linear(3, 2), (4, 3)),
        (lambda: nn.ReLU(), (4, 3)),
        (lambda: nn.Dropout(0.5).eval(), (4, 3)),
        (lambda: nn.BatchNorm1d(3).eval(), (4, 3)),
        (lambda: nn.LayerNorm(3), (4, 3)),
        (lambda: nn.Sequential(nn.Linear(3, 3), nn.GELU()), (4, 3)),
        (lambda: nn.Flatten(), (4, 3, 2)),
        (lambda: nn.Identity(), (4, 3)),
        (lambda: nn.Conv1d(3, 2, 1), (4, 3, 5)),
    ],
)
def test_layers_accept_input_as_a_keyword(layer, shape):
    m = layer()
    x = jnp.ones(shape)
    np.testing.assert_array_equal(np.asarray(m(input=x)), np.asarray(m(x)))
    assert nn.Embedding(3, 2)(input=jnp.array([1])).shape == (1, 2)


@pytest.mark.parametrize(
    "n,affine,bias", [(1, True, False), (2, True, False), (3, True, False), (2, True, True), (2, False, True)]
)
def test_instance_norm_options_match_pytorch(n, affine, bias):
    ref = getattr(torch.nn, f"InstanceNorm{n}d")(3, affine=affine, bias=bias)
    m = getattr(nn, f"InstanceNorm{n}d")(3, affine=affine, bias=bias)
    assert [k for k, _ in m.named_parameters()] == [k for k, _ in ref.named_parameters()]
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(0.5, 1.5)
    m = m.load_state_dict(ref.state_dict())
    x = np.random.default_rng(n).standard_normal((2, 3) + (4,) * n).astype(np.float32)
    for batch in (x, x[0]):  # batched and unbatched
        want = ref(torch.from_numpy(batch)).detach().numpy()
        np.testing.assert_allclose(np.asarray(m(jnp.asarray(batch))), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax", "Softmin"])
@pytest.mark.parametrize("dim", [None, 0, -1])
def test_softmax_family_on_0d_inputs(name, dim):
    with pytest.warns(UserWarning) if dim is None else _nothing():
        want = getattr(torch.nn, name)(dim=dim)(torch.tensor(2.5)).item()
    got = getattr(nn, name)(dim=dim)(jnp.float32(2.5))
    assert got.shape == () and float(got) == pytest.approx(want)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    fn = getattr(torch.nn, name)(dim=1)
    np.testing.assert_allclose(
        np.asarray(getattr(nn, name)(dim=1)(jnp.asarray(x))), fn(torch.from_numpy(x)).numpy(), rtol=1e-5
    )
    with pytest.raises(torsh.errors.ShapeError, match="out of range"):
        getattr(nn, name)(dim=1)(jnp.float32(2.5))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
