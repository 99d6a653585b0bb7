"""torsh.quantize.int8_weights: per-output-channel symmetric int8 weights, dequantised in the graph."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import torsh
from torsh import nn
from torsh.errors import ConfigError
from torsh.quantize import Int8Model, QuantizedArray, int8_weights, quantize_array


@given(
    # A few shapes only: each new shape compiles the eager ops again.
    st.sampled_from([(3, 4), (5, 1), (2, 3, 2, 2)]).flatmap(
        lambda shape: hnp.arrays(
            np.float32, shape, elements=st.floats(-100, 100, width=32, allow_subnormal=False)
        )
    ),
    st.integers(0, 1),
)
def test_quantize_array_matches_a_numpy_reference(w, axis):
    q = quantize_array(jnp.asarray(w), axis)
    others = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=others, keepdims=True)
    scale = np.where(amax > np.finfo(np.float32).tiny * 127, amax / 127, 1).astype(np.float32)
    np.testing.assert_allclose(q.scale, scale, rtol=1e-6)
    ref = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
    assert np.abs(q.values.astype(np.int32) - ref.astype(np.int32)).max(initial=0) <= 1  # rounding ties
    # Error bound of symmetric rounding: half a step per element.
    err = np.abs(np.asarray(q.dequantize()) - w)
    assert np.all(err <= np.maximum(scale / 2 + 1e-6 * np.abs(w), np.where(scale == 1, np.abs(w), 0)))


def _cnn(key):
    k = jax.random.split(key, 4)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, key=k[0]),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 32, key=k[1]),
        nn.ReLU(),
        nn.Linear(32, 10, key=k[2]),
    ).eval()


def test_keys_are_kept_and_only_layer_weights_are_int8():
    model = _cnn(jax.random.key(0))
    small = int8_weights(model)
    sd, ref = small.state_dict(), model.state_dict()
    assert set(sd) == set(ref) | {"0.weight.scale", "4.weight.scale", "6.weight.scale"}
    for name in ("0.weight", "4.weight", "6.weight"):
        assert sd[name].dtype == jnp.int8 and sd[name].shape == ref[name].shape
    assert sd["0.weight.scale"].shape == (8, 1, 1, 1) and sd["4.weight.scale"].shape == (32, 1)
    for name in ("0.bias", "1.running_mean", "1.weight"):
        np.testing.assert_array_equal(sd[name], ref[name])


def test_conv_transpose_and_embedding_use_their_output_axis():
    ct = nn.ConvTranspose2d(3, 5, 2, key=jax.random.key(1))
    assert int8_weights(ct).module.weight.scale.shape == (1, 5, 1, 1)
    emb = nn.Embedding(7, 4, key=jax.random.key(2))
    small = int8_weights(emb)
    assert small.module.weight.scale.shape == (7, 1)
    idx = jnp.array([0, 3, 6])
    np.testing.assert_allclose(small(idx), emb(idx), atol=float(jnp.abs(emb.weight).max()) / 127)


def test_attention_projections_are_quantised():
    enc = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, key=jax.random.key(8)).eval()
    small = int8_weights(enc)
    names = {k for k, v in small.state_dict().items() if v.dtype == jnp.int8}
    assert names == {
        "self_attn.in_proj_weight",
        "self_attn.out_proj.weight",
        "linear1.weight",
        "linear2.weight",
    }
    x = jax.random.normal(jax.random.key(9), (2, 5, 16))
    assert float(jnp.abs(small(x) - enc(x)).max()) < 0.05


def test_outputs_stay_close_under_jit_and_grad_free_inference():
    model = _cnn(jax.random.key(3))
    small = int8_weights(model)
    x = jax.random.normal(jax.random.key(4), (5, 1, 6, 6))
    want, got = model(x), torsh.jit(lambda m, x: m(x))(small, x)
    assert float(jnp.abs(got - want).max()) <= 0.02 * float(jnp.abs(want).max())
    assert (got.argmax(-1) == want.argmax(-1)).all()


def test_save_load_round_trip(tmp_path):
    small = int8_weights(_cnn(jax.random.key(5)))
    torsh.save(tmp_path / "q.safetensors", small)
    like = int8_weights(_cnn(jax.random.key(6)))
    back = torsh.load(tmp_path / "q.safetensors", like=like)
    assert isinstance(back, Int8Model) and isinstance(back.module[0].weight, QuantizedArray)
    assert torsh.tree.allclose(back, small)


def test_exported_int8_artifact_is_about_4x_smaller(tmp_path):
    k = jax.random.split(jax.random.key(7), 2)
    model = nn.Sequential(nn.Linear(512, 512, key=k[0]), nn.ReLU(), nn.Linear(512, 10, key=k[1])).eval()
    x = jnp.ones((1, 512))
    torsh.export.export(model, x, input_names=["input"]).save(tmp_path / "f32.torshx")
    small = int8_weights(model)
    torsh.export.export(small, x, input_names=["input"]).save(tmp_path / "i8.torshx")
    ratio = (tmp_path / "f32.torshx").stat().st_size / (tmp_path / "i8.torshx").stat().st_size
    assert 3.5 <= ratio <= 4.0, ratio
    served = torsh.export.load(tmp_path / "i8.torshx")
    np.testing.assert_allclose(served(x), small(x), rtol=1e-5, atol=1e-6)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="expected a torsh nn.Module"):
        int8_weights({"w": jnp.ones((2, 2))})
    with pytest.raises(ConfigError, match="no Linear/Conv"):
        int8_weights(nn.ReLU())
    with pytest.raises(ConfigError, match="floating-point"):
        quantize_array(jnp.ones((2, 2), jnp.int32))
