"""torsh.amp.apply / autocast: which ops run in which dtype (jaxpr), overrides, numbers, model API."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _amp_jaxpr import op_dtypes
from hypothesis import given
from hypothesis import strategies as st

import torsh
from torsh import amp, nn
from torsh.errors import DTypeError, ShapeError
from torsh.nn import functional as F

BF16 = "bfloat16"
F32 = "float32"
REDUCTIONS = ("reduce_sum", "reduce_max", "reduce_min", "argmax")


def make_mlp() -> nn.Sequential:
    torsh.manual_seed(0)
    # paths: 0 (Sequential), 0.0 (Linear), 0.1 (ReLU), 1 (LayerNorm), 2 (Linear)
    return nn.Sequential(nn.Sequential(nn.Linear(6, 16), nn.ReLU()), nn.LayerNorm(16), nn.Linear(16, 4))


def loss_fn(model, x, y):
    return F.cross_entropy(model(x), y)


@pytest.fixture(scope="module")
def mlp():
    return make_mlp()


@pytest.fixture(scope="module")
def batch():
    x = jax.random.normal(jax.random.key(1), (5, 6))
    return x, jnp.array([0, 1, 2, 3, 0])


def test_jaxpr_forward_dtypes(mlp, batch):
    fast = amp.apply(mlp, "params=float32,compute=bfloat16,output=float32")
    ops = op_dtypes(loss_fn, fast, *batch)
    assert set(ops["dot_general"]) == {BF16}  # both Linear layers
    assert sum(ops["dot_general"].values()) == 2
    for name in REDUCTIONS:  # LayerNorm's statistics and the loss's logsumexp: float32
        assert set(ops.get(name, {})) <= {F32}, name
    assert ops["reduce_sum"][F32] >= 3
    assert set(ops["log"]) == {F32} and set(ops["exp"]) == {F32}
    assert set(ops["rsqrt"]) == {F32}  # the normalisation itself
    # the float32 model has no bfloat16 op at all
    plain = op_dtypes(loss_fn, mlp, *batch)
    assert not any(BF16 in c for c in plain.values())


def test_jaxpr_grad_dtypes(mlp, batch):
    fast = amp.apply(mlp, "c=bf16")
    ops = op_dtypes(torsh.value_and_grad(loss_fn), fast, *batch)
    assert set(ops["dot_general"]) == {BF16}  # forward and both backward products
    assert sum(ops["dot_general"].values()) >= 5
    loss, grads = jax.jit(torsh.value_and_grad(loss_fn))(fast, *batch)
    assert loss.dtype == jnp.float32
    assert {g.dtype for g in jax.tree.leaves(grads)} == {jnp.dtype(F32)}
    assert {p.dtype for p in jax.tree.leaves(fast)} == {jnp.dtype(F32)}  # master weights
    assert jax.tree.structure(grads) == jax.tree.structure(fast)


def test_conv_batchnorm_dtypes_and_running_stats():
    torsh.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3))
    fast = amp.apply(cnn, "c=bf16")
    x = jax.random.normal(jax.random.key(2), (2, 1, 8, 8))
    ops = op_dtypes(lambda m, x: nn.stateful(m)(x), fast, x)
    assert set(ops["conv_general_dilated"]) == {BF16}
    assert set(ops["dot_general"]) == {BF16}
    assert set(ops["reduce_sum"]) == {F32}  # the batch statistics
    out, new = jax.jit(lambda m, x: nn.stateful(m)(x))(fast, x)
    # PyTorch's BatchNorm2d update on the float32 convolution of the same weights and input
    conv = torch.nn.functional.conv2d(
        torch.from_numpy(np.array(x)), torch.from_numpy(np.array(cnn[0].weight))
    )
    conv = conv + torch.from_numpy(np.array(cnn[0].bias)).reshape(1, 4, 1, 1)
    torch_bn = torch.nn.BatchNorm2d(4)
    torch_bn(conv)
    assert out.dtype == jnp.float32
    assert isinstance(new, amp.AmpModel) and int(new.module[1].num_batches_tracked) == 1
    assert new.module[1].running_mean.dtype == jnp.float32
    # statistics of the bfloat16 convolution's output: close to float32's, not equal, and updated
    np.testing.assert_allclose(new.module[1].running_var, torch_bn.running_var.numpy(), rtol=2e-2, atol=2e-3)
    np.testing.assert_allclose(
        new.module[1].running_mean, torch_bn.running_mean.numpy(), rtol=2e-2, atol=2e-3
    )
    assert not np.allclose(new.module[1].running_var, cnn[1].running_var)
    # BatchNorm computing on bfloat16 (keep_float32=()) reports bfloat16 statistics: they are stored
    # back in the buffers' own float32 dtype (traced only: eval_shape)
    slow = amp.apply(cnn, "c=bf16", keep_float32=())
    _, shapes = jax.eval_shape(lambda m, x: nn.stateful(m)(x), slow, x)
    assert shapes.module[1].running_mean.dtype == jnp.float32
    assert jax.tree.structure(shapes) == jax.tree.structure(slow)
    # ... and reach the original modules (the forward pass ran on cast copies): values, one small model
    mlp_bn = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    xs = jax.random.normal(jax.random.key(3), (6, 3))
    _, new = jax.jit(lambda m, x: nn.stateful(m)(x))(amp.apply(mlp_bn, "c=bf16", keep_float32=()), xs)
    h = np.asarray(xs) @ np.asarray(mlp_bn[0].weight).T + np.asarray(mlp_bn[0].bias)
    assert int(new.module[1].num_batches_tracked) == 1 and new.module[1].running_mean.dtype == jnp.float32
    np.testing.assert_allclose(new.module[1].running_mean, 0.1 * h.mean(0), rtol=2e-2, atol=2e-3)


def _bf16(x):
    """Round to bfloat16 (nearest even), computed on in float32: numpy and ml_dtypes, no XLA."""
    return np.asarray(x, np.float32).astype(jnp.bfloat16).astype(np.float32)


def test_numbers_match_rounded_reference_and_torch(mlp, batch):
    x, _ = batch
    fast = amp.apply(mlp, "c=bf16")
    out = fast(x)  # eager: every op's bfloat16 result is materialised
    lin1, norm, lin2 = mlp[0][0], mlp[1], mlp[2]
    # float32 arithmetic on bfloat16-rounded operands, every bfloat16 op result rounded explicitly
    h = _bf16(_bf16(_bf16(x) @ _bf16(lin1.weight).T) + _bf16(lin1.bias))
    h = np.maximum(h, 0)
    mean, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)  # LayerNorm in float32
    h = (h - mean) / np.sqrt(var + 1e-5) * np.asarray(norm.weight) + np.asarray(norm.bias)
    ref = _bf16(_bf16(_bf16(h) @ _bf16(lin2.weight).T) + _bf16(lin2.bias))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-2)
    assert np.mean(np.asarray(out) == ref) > 0.9  # bit-equal but for rare float32 rounding ties
    # the float32 model is measurably different (the test can fail)
    assert float(jnp.max(jnp.abs(mlp(x) - ref))) > 1e-3
    # PyTorch with the same weights: bfloat16 linear layers, float32 layer_norm
    t = {k: torch.from_numpy(np.array(v)) for k, v in mlp.state_dict().items()}
    th = torch.nn.functional.linear(
        torch.from_numpy(np.array(x)).bfloat16(), t["0.0.weight"].bfloat16(), t["0.0.bias"].bfloat16()
    ).relu()
    th = torch.nn.functional.layer_norm(th.float(), (16,), t["1.weight"], t["1.bias"])
    th = torch.nn.functional.linear(th.bfloat16(), t["2.weight"].bfloat16(), t["2.bias"].bfloat16()).float()
    np.testing.assert_allclose(out, th.numpy(), rtol=0, atol=3e-2)


def test_overrides_by_path_class_and_inheritance(mlp, batch):
    x, y = batch
    # a path glob: the last Linear in float32; its output cast to its policy's output dtype
    ops = op_dtypes(loss_fn, amp.apply(mlp, "c=bf16", {"2": amp.Policy()}), x, y)
    assert ops["dot_general"] == {BF16: 1, F32: 1}
    # a container selected: its children inherit its compute dtype
    ops = op_dtypes(loss_fn, amp.apply(mlp, "c=bf16", {"0": "float32"}), x, y)
    assert ops["dot_general"] == {BF16: 1, F32: 1}
    # a class key, and a tuple key; the first matching override wins
    ops = op_dtypes(loss_fn, amp.apply(mlp, "c=bf16", {nn.Linear: "float32"}), x, y)
    assert ops["dot_general"] == {F32: 2}
    first = {("*Norm", "2"): amp.Policy(), nn.Linear: amp.Policy(compute="bf16")}
    ops = op_dtypes(loss_fn, amp.apply(mlp, "c=bf16", first), x, y)
    assert ops["dot_general"] == {BF16: 1, F32: 1}
    # a float32 policy with a bfloat16 override: only that layer in bfloat16
    ops = op_dtypes(loss_fn, amp.apply(mlp, amp.Policy(), {"0.*": "c=bf16,o=bf16"}), x, y)
    assert ops["dot_general"] == {BF16: 1, F32: 1}


def test_outputs_of_selected_modules():
    torsh.manual_seed(0)
    seen = {}

    class Probe(nn.Module):  # records the dtype each layer hands to the next
        inner: nn.Sequential

        def __init__(self, inner):
            self.inner = inner

        def forward(self, x):
            for i, layer in enumerate(self.inner):
                x = layer(x)
                seen[str(i)] = x.dtype
            return x

    probe = Probe(nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3), nn.Linear(3, 2)))
    x = jnp.ones((1, 3))
    out = jax.eval_shape(amp.apply(probe, "c=bf16,o=float32", {"inner.1": "c=float16,o=float16"}), x)
    # inherited modules return their compute dtype; the selected one its policy's output dtype
    assert seen == {"0": jnp.bfloat16, "1": jnp.float16, "2": jnp.bfloat16}
    assert out.dtype == jnp.float32  # the root: the policy's output dtype
    out = jax.eval_shape(amp.apply(probe, "c=bf16,o=float32", {"inner.1": "c=float16,o=float32"}), x)
    assert seen["1"] == jnp.float32


SEEN: dict = {}


class RecordingNorm(nn.LayerNorm):
    def forward(self, input):
        out = super().forward(input)
        SEEN.update(input=input.dtype, weight=self.weight.dtype, output=out.dtype)
        return out


def test_keep_float32():
    torsh.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), RecordingNorm(4), nn.Linear(4, 2))
    x = jnp.ones((2, 3))
    jax.eval_shape(amp.apply(model, "c=bf16"), x)  # default: every normalisation layer in float32
    assert SEEN == {"input": jnp.float32, "weight": jnp.float32, "output": jnp.float32}
    jax.eval_shape(amp.apply(model, "c=bf16", keep_float32=()), x)
    assert SEEN == {"input": jnp.bfloat16, "weight": jnp.bfloat16, "output": jnp.bfloat16}
    fast = amp.apply(model, "c=bf16", keep_float32=nn.Linear)  # one class, not a tuple
    assert jax.eval_shape(fast, x).dtype == jnp.float32
    assert SEEN == {"input": jnp.bfloat16, "weight": jnp.bfloat16, "output": jnp.bfloat16}
    assert op_dtypes(fast, x)["dot_general"] == {F32: 2}
    assert set(amp.NORM_LAYERS) >= {nn.LayerNorm, nn.BatchNorm2d, nn.GroupNorm, nn.RMSNorm}


def test_params_dtype_and_stored_weights(mlp):
    half = amp.apply(mlp, "params=bfloat16,compute=bfloat16,output=float32")
    dtypes = {k: v.dtype for k, v in half.state_dict().items()}
    assert dtypes["0.0.weight"] == jnp.bfloat16 and dtypes["2.bias"] == jnp.bfloat16
    assert dtypes["1.weight"] == jnp.float32  # keep_float32: norms keep float32 parameters
    same = amp.apply(mlp, "c=bf16")
    assert all(a is b for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(mlp), strict=True))


def test_model_api_is_the_wrapped_models(mlp, batch, tmp_path):
    fast = amp.apply(mlp, "c=bf16")
    assert list(fast.state_dict()) == list(mlp.state_dict())
    assert [n for n, _ in fast.named_parameters()] == [n for n, _ in mlp.named_parameters()]
    torsh.save(tmp_path / "m.safetensors", fast)
    back = torsh.load(tmp_path / "m.safetensors", like=mlp)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(mlp), strict=True))
    loaded = fast.load_state_dict({k: v + 1 for k, v in mlp.state_dict().items()})
    assert isinstance(loaded, amp.AmpModel) and loaded.policy == fast.policy
    np.testing.assert_array_equal(loaded.module[2].bias, mlp[2].bias + 1)
    assert fast.eval().module[1].training is False


def test_errors_keep_their_module_path(mlp):
    fast = amp.apply(mlp, "c=bf16")
    with pytest.raises(ShapeError, match=r"0\.0 \(Linear"):
        fast(jnp.ones((2, 7)))


def test_autocast_inside_a_jitted_function(mlp, batch):
    x, y = batch

    @jax.jit
    def loss_amp(model, x, y):
        with amp.autocast("c=bf16"):
            return loss_fn(model, x, y)

    ops = op_dtypes(loss_amp, mlp, x, y)
    assert set(ops["dot_general"]) == {BF16}
    applied = op_dtypes(loss_fn, amp.apply(mlp, "c=bf16"), x, y)
    ops.pop("jit"), applied.pop("jit")  # (loss_amp's own jit counts as one more)
    assert ops == applied  # the same program as apply's
    assert mlp(x).dtype == jnp.float32  # nothing left active after the block


def test_tied_embedding_and_nested_jit_language_model():
    from torsh.text.models import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=40, n_positions=8, n_embd=16, n_layer=1, n_head=2)
    model = GPT2LMHeadModel(cfg, key=torsh.random.key(0)).eval()
    fast = amp.apply(model, "c=bf16")
    ids = jnp.arange(8, dtype=jnp.int32)[None] % 40
    ops = op_dtypes(lambda m, i: m(i), fast, ids)
    # every product, the tied output projection included, runs in bfloat16; the norms in float32
    assert set(ops["dot_general"]) == {BF16}
    assert set(ops["rsqrt"]) == {F32}
    assert jax.eval_shape(fast, ids).dtype == jnp.float32
    assert list(fast.state_dict()) == list(model.state_dict())


def test_bad_input(mlp):
    with pytest.raises(amp.PolicyError, match=r"'\*nrom\*' matches no module path or class name of Seq"):
        amp.apply(mlp, "c=bf16", {"*nrom*": amp.Policy()})
    assert isinstance(amp.apply(mlp, "c=bf16", {"*nrom*": amp.Policy()}, strict=False), amp.AmpModel)
    with pytest.raises(amp.PolicyError, match="override key must be a glob"):
        amp.apply(mlp, "c=bf16", {3: amp.Policy()})
    with pytest.raises(amp.PolicyError, match="overrides must be a mapping"):
        amp.apply(mlp, "c=bf16", ["*norm*"])
    with pytest.raises(amp.PolicyError, match="keep_float32 must be nn.Module subclasses"):
        amp.apply(mlp, "c=bf16", keep_float32=("LayerNorm",))
    with pytest.raises(amp.PolicyError, match="expected an nn.Module, got dict"):
        amp.apply({"w": jnp.ones(2)}, "c=bf16")
    with pytest.raises(amp.PolicyError, match="already runs under"):
        amp.apply(amp.apply(mlp, "c=bf16"), "c=bf16")
    with pytest.raises(amp.PolicyError, match="expected an amp.Policy or a policy string"):
        amp.apply(mlp, jnp.bfloat16)
    with pytest.raises(DTypeError, match="compute=...\\): expected a floating dtype .* got int32"):
        amp.apply(mlp, amp.Policy(compute="int32"))
    with pytest.raises(DTypeError, match="unknown dtype 'bfloat61'"):
        amp.apply(mlp, "c=bfloat61")
    with pytest.raises(amp.PolicyError, match="override '1'"):
        amp.apply(mlp, "c=bf16", {"1": "c=bf16,c=f32"})
    with (
        pytest.raises(amp.PolicyError, match="'\\*nrom\\*' matches no module"),
        amp.autocast("c=bf16", {"*nrom*": "f32"}),
    ):
        mlp(jnp.ones((1, 6)))


@given(st.sets(st.sampled_from(["0", "2", "4", "6"])), st.booleans())
def test_selected_layers_are_the_float32_products(selected, by_tuple):
    # property: with the Linear layers at `selected` overridden to float32 (one key per path, or one
    # tuple key), exactly those products run in float32 and the others in bfloat16
    torsh.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(4, 4), nn.Tanh())])
    keys = (
        {tuple(sorted(selected)): amp.Policy()} if (by_tuple and selected) else dict.fromkeys(selected, "f32")
    )
    ops = op_dtypes(amp.apply(model, "c=bf16", keys), jnp.ones((2, 4)))
    expected = {F32: len(selected), BF16: 4 - len(selected)}
    assert ops["dot_general"] == {k: v for k, v in expected.items() if v}
