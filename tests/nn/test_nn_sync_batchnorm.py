"""Synchronised BatchNorm (``axis_name``, ``nn.SyncBatchNorm``) against torch BatchNorm on the full batch.

In process: ``torsh.vmap`` over a "device" axis (the same collectives as shard_map/pmap). On 8
simulated CPU devices: ONE subprocess runs _nn_sync_bn_checks8.py (shard_map f32/f64, pmap with
per-device gradients, the unbound-axis error); each of its checks is a test here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import _nn_sync_bn_checks8
import _nn_sync_bn_reference as ref
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import torsh
from torsh import nn
from torsh.errors import ConfigError, DistributedError, ShapeError
from torsh.nn import functional as F

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_nn_sync_bn_checks8.py")


@pytest.fixture(scope="module")
def results8(tmp_path_factory):
    out = tmp_path_factory.mktemp("syncbn8") / "results.json"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_NUM_CPU_DEVICES", None)
    env.pop("TORSH_DEVICE", None)
    proc = subprocess.run(
        [sys.executable, SCRIPT, str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0 and out.exists(), f"the 8-device script failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", sorted(_nn_sync_bn_checks8.CHECKS))
def test_on_8_devices(results8, name):
    assert name in results8, f"check {name} did not run"
    assert results8[name]["ok"], f"check {name} failed on 8 devices:\n{results8[name]['error']}"


def _vmapped_step(devices: int):
    """jit(grad) of ``sum(out * g)`` through the layer applied per device under vmap(axis_name="dev")."""
    per_device = torsh.vmap(
        lambda m, x: nn.stateful(m)(x), in_axes=(None, 0), out_axes=(0, None), axis_name="dev"
    )

    def loss(m, xs, g):
        out, new = per_device(m, xs)
        return jnp.sum(out * g), (out, new)

    return jax.jit(torsh.value_and_grad(loss, argnums=(0, 1), has_aux=True))


def _run_case(layer, spatial, momentum, dtype, devices=4, per_device=2):
    c = 3
    t = ref.torch_bn(spatial, c, momentum, dtype, seed=10 * spatial + devices)
    model = layer(c).load_state_dict(ref.state(t))
    data = ref.batches(devices * per_device, c, spatial, steps=2, dtype=dtype, seed=spatial)
    want = ref.torch_steps(t, data)
    step = _vmapped_step(devices)
    for i, ((x, g), w) in enumerate(zip(data, want, strict=True)):
        shards = (devices, per_device) + x.shape[1:]
        (_, (out, model)), (gm, gx) = step(model, x.reshape(shards), g.reshape(shards))
        got = {
            "out": out.reshape(x.shape),
            "input": gx.reshape(x.shape),
            "weight": gm.weight,
            "bias": gm.bias,
            "state": model.state_dict(),
        }
        ref.compare(got, w, dtype, f"step {i}")
        assert out.dtype == jnp.dtype(dtype)


CASES = {
    "bn1d_2d_input": (lambda c, **kw: nn.BatchNorm1d(c, axis_name="dev", **kw), 0, 0.1),
    "bn1d_3d_input_cumulative": (
        lambda c, **kw: nn.BatchNorm1d(c, momentum=None, axis_name="dev", **kw),
        1,
        None,
    ),
    "bn2d": (lambda c, **kw: nn.BatchNorm2d(c, axis_name="dev", **kw), 2, 0.1),
    "bn3d": (lambda c, **kw: nn.BatchNorm3d(c, momentum=0.3, axis_name="dev", **kw), 3, 0.3),
    "sync_3d": (lambda c, **kw: nn.SyncBatchNorm(c, axis_name="dev", **kw), 1, 0.1),
}


# (the 8-device checks cover SyncBatchNorm on 4-D, BatchNorm1d on 3-D in f64 and BatchNorm3d under pmap)
@pytest.mark.parametrize("case", ["bn1d_2d_input", "bn2d", "bn3d", "sync_3d"])
def test_sharded_batch_equals_torch_full_batch_f32(case):
    layer, spatial, momentum = CASES[case]
    _run_case(layer, spatial, momentum, "float32")


@pytest.mark.parametrize("case", ["bn1d_3d_input_cumulative"])
def test_sharded_batch_equals_torch_full_batch_f64(case, x64):
    layer, spatial, momentum = CASES[case]
    _run_case(lambda c: layer(c, dtype=jnp.float64), spatial, momentum, "float64")


@settings(max_examples=examples(4))
@given(devices=st.integers(1, 3), per_device=st.integers(1, 3), seed=st.integers(0, 1000))
def test_functional_batch_norm_axis_name_is_the_full_batch(devices, per_device, seed):
    # F.batch_norm(axis_name=...) over shards (eagerly, uneven spreads of values) == torch on the whole
    rng = np.random.default_rng(seed)
    n = devices * per_device
    if n == 1:
        return  # one value per channel: covered by test_one_value_per_channel_globally_is_an_error
    x = (rng.standard_normal((n, 2, 3)) * rng.uniform(0.1, 10) + rng.uniform(-50, 50)).astype(np.float32)
    w, b = rng.uniform(0.5, 2, 2).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    expected = torch.nn.functional.batch_norm(
        torch.tensor(x), None, None, torch.tensor(w), torch.tensor(b), training=True
    ).numpy()
    got = torsh.vmap(
        lambda s: F.batch_norm(s, None, None, w, b, training=True, axis_name="dev"), axis_name="dev"
    )(x.reshape(devices, per_device, 2, 3))
    np.testing.assert_allclose(np.asarray(got).reshape(x.shape), expected, rtol=1e-4, atol=1e-4)


def test_one_sample_per_device_is_allowed_one_value_globally_is_not():
    bn = nn.SyncBatchNorm(2, axis_name="dev", track_running_stats=False)
    per_device = torsh.vmap(lambda x: bn(x), axis_name="dev")
    x = np.random.default_rng(0).standard_normal((2, 1, 2)).astype(np.float32)  # 2 devices x 1 sample
    expected = torch.nn.BatchNorm1d(2, track_running_stats=False)(torch.tensor(x.reshape(2, 2))).detach()
    np.testing.assert_allclose(
        np.asarray(per_device(x)).reshape(2, 2), expected.numpy(), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        per_device(x[:1])  # 1 device x 1 sample


def test_eval_uses_running_stats_without_communication():
    t = ref.torch_bn(2, 3, 0.1, "float32", seed=0).eval()
    bn = nn.SyncBatchNorm(3, axis_name="dev").load_state_dict(ref.state(t)).eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(bn(x), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)  # no vmap


def test_unbound_axis_name_says_where_to_run():
    bn = nn.BatchNorm2d(3, axis_name="batch")
    x = jnp.ones((2, 3, 2, 2))
    with pytest.raises(DistributedError, match=r"axis_name='batch'.*shard_map.*pmap.*vmap"):
        nn.stateful(bn)(x)
    with pytest.raises(DistributedError, match="not bound"):  # another axis name bound: still unbound
        torsh.vmap(lambda s: F.batch_norm(s, None, None, training=True, axis_name="batch"), axis_name="d")(
            x[None]
        )


def test_configuration_errors():
    with pytest.raises(ConfigError, match="SyncBatchNorm needs axis_name"):
        nn.SyncBatchNorm(3)
    with pytest.raises(ConfigError, match="process_group"):
        nn.SyncBatchNorm(3, 1e-5, 0.1, True, True, object(), axis_name="d")
    for bad in (3, ("a", 1), (), ["a"]):
        with pytest.raises(ConfigError, match="axis_name must be"):
            nn.BatchNorm2d(3, axis_name=bad)
        with pytest.raises(ConfigError, match="axis_name must be"):
            F.batch_norm(jnp.ones((2, 3)), None, None, training=True, axis_name=bad)
    with pytest.raises(ShapeError, match="at least 2D"):
        nn.SyncBatchNorm(3, axis_name="d")(jnp.ones(3))
    with pytest.raises(ShapeError, match="expected 3 channels"):
        nn.SyncBatchNorm(3, axis_name="d").eval()(jnp.ones((2, 4, 5)))
    assert nn.SyncBatchNorm(3, axis_name=("a", "b")).axis_name == ("a", "b")
    assert "axis_name='d'" in repr(nn.SyncBatchNorm(3, axis_name="d"))


def test_convert_sync_batchnorm_keeps_everything_but_the_class():
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 1),
        torch.nn.BatchNorm2d(3),
        torch.nn.Sequential(torch.nn.BatchNorm2d(3, affine=False)),
    )
    for m in (t_model[1], t_model[2][0]):
        m.running_mean.uniform_(-1, 1)
        m.num_batches_tracked.fill_(5)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm2d(3, affine=False))
    )
    model = model.load_state_dict(ref.state(t_model)).freeze("1.bias")
    model = model.replace(**{"2.0": model[2][0].eval()})
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model, "dev")
    t_synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(t_model)
    assert [type(m).__name__ for m in synced.modules()] == [type(m).__name__ for m in t_synced.modules()]
    assert synced[1].axis_name == synced[2][0].axis_name == "dev"
    assert synced[2][0].training is False and synced[1].training is True
    want = ref.state(t_synced)
    assert list(synced.state_dict()) == list(want)
    for k, v in want.items():
        np.testing.assert_array_equal(synced.state_dict()[k], v, err_msg=k)
    assert [n for n, _ in synced.named_parameters()] == [
        n for n, _ in model.named_parameters()
    ]  # frozen kept
    assert (
        nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(4), "dev").axis_name == "dev"
    )  # the root too
    with pytest.raises(ConfigError, match="axis_name"):
        nn.SyncBatchNorm.convert_sync_batchnorm(model, None)


def test_empty_global_batch_keeps_running_stats_and_counts_the_batch():
    t = ref.torch_bn(1, 2, 0.1, "float32", seed=0)
    x = np.zeros((0, 2, 3), np.float32)
    bn = nn.BatchNorm1d(2, axis_name="dev").load_state_dict(ref.state(t))
    want = t(torch.tensor(x)).detach().numpy()
    out, new = torsh.vmap(nn.stateful(bn), axis_name="dev", out_axes=(0, None))(x.reshape(2, 0, 2, 3))
    assert out.shape == (2, 0, 2, 3) and want.shape == (0, 2, 3)
    for k, v in ref.state(t).items():  # torch: running statistics unchanged, the batch counted
        np.testing.assert_array_equal(new.state_dict()[k], v, err_msg=k)
