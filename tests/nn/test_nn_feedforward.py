"""SwiGLU / GeGLU against HF's LlamaMLP with the same weights (values and gradients)."""

from __future__ import annotations

import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _nn_reference import torch_state

import torsh
from torsh import nn
from torsh.errors import ConfigError, DTypeError
from torsh.nn import logical_axes

sys.path.append(str(pathlib.Path(__file__).resolve().parents[1] / "text"))
from _text_hf import torch, transformers  # (transformers through the torchvision shim)
from transformers.models.llama.modeling_llama import LlamaMLP


def _hf_mlp(act: str, bias: bool, seed: int):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        hidden_size=12, intermediate_size=20, num_attention_heads=2, hidden_act=act, mlp_bias=bias
    )
    mlp = LlamaMLP(cfg).double()
    with torch.no_grad():
        for p in mlp.parameters():
            p.normal_(0.0, 0.3)
    return mlp


@pytest.mark.parametrize(
    ("cls", "kw", "act", "bias"),
    [
        (nn.SwiGLU, {}, "silu", False),
        (nn.SwiGLU, {}, "silu", True),
        (nn.GeGLU, {}, "gelu", False),
        (nn.GeGLU, {"approximate": "tanh"}, "gelu_pytorch_tanh", True),
    ],
)
def test_gated_feed_forward_equals_hf_llama_mlp(x64, cls, kw, act, bias):
    hf = _hf_mlp(act, bias, seed=len(act) + bias)
    ffn = cls(12, 20, bias=bias, key=torsh.random.key(0), dtype=jnp.float64, **kw)
    ffn = ffn.load_state_dict(torch_state(hf))
    assert list(ffn.state_dict()) == list(hf.state_dict())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 12))
    cot = rng.standard_normal((3, 4, 12))
    tx = torch.tensor(x, requires_grad=True)
    want = hf(tx)
    (want * torch.tensor(cot)).sum().backward()

    def loss(m, x):
        out = m(x)
        return (out * cot).sum(), out

    (_, out), (g_mod, g_x) = jax.jit(torsh.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        ffn, jnp.asarray(x)
    )
    np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_x, tx.grad.numpy(), rtol=1e-11, atol=1e-12)
    for name, g in g_mod.named_parameters():
        np.testing.assert_allclose(
            g, hf.get_parameter(name).grad.numpy(), rtol=1e-11, atol=1e-11, err_msg=name
        )


def test_feed_forward_shapes_axes_and_errors():
    ffn = nn.SwiGLU(8, 16, out_features=4, key=torsh.random.key(0))
    assert ffn(jnp.ones((2, 8))).shape == (2, 4)
    assert ffn.gate_proj.bias is None and ffn.down_proj.weight.shape == (4, 16)
    axes = logical_axes(ffn)
    assert axes["gate_proj.weight"] == ("mlp", "embed") and axes["down_proj.weight"] == ("embed", "mlp")
    assert "hidden_features=16" in repr(ffn)
    with pytest.raises(ConfigError, match="hidden_features must be a positive int"):
        nn.SwiGLU(8, 0)
    with pytest.raises(ConfigError, match="approximate must be"):
        nn.GeGLU(8, 16, approximate="erf")
    with pytest.raises(DTypeError):
        ffn(jnp.ones((2, 8), jnp.int32))
