"""torsh.vision.models against torchvision 0.28 (test-only reference, imported via _vision_torchvision).

Per model family: the state-dict keys and shapes equal torchvision's (full-size constructors), the
initial values follow torchvision's distributions, and outputs in eval mode equal torchvision's after
loading its state dict by key. Forward parity runs on small configurations of the same classes
(torchvision's constructors take the block settings), one jit compile each: full-size models take
15-40 s to compile on this shared 2-core machine (grouped 7x7 convolutions mostly), the small ones
cover the same blocks. Before comparing, torchvision's BatchNorm statistics are calibrated on a batch
and zero/1e-6 initialised tensors (ViT head, ConvNeXt layer scale) are randomised, so every branch
contributes to the output.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _vision_torchvision import torchvision

import torsh
from torsh import nn
from torsh.errors import CheckpointError, ConfigError, ShapeError
from torsh.vision import models

tvm = torchvision.models
RTOL = 1e-4


# ---------------------------------------------------------------------------------------------------
# helpers
def _calibrated(tv: torch.nn.Module, size: int, seed: int = 0) -> torch.nn.Module:
    """torchvision model in eval mode with non-trivial parameters and BatchNorm statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in tv.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif name in ("heads.head.weight", "heads.head.bias", "class_token"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        for m in tv.modules():
            if isinstance(m, torch.nn.Linear):  # MobileNets start at N(0, 0.01²): outputs near zero
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(m.in_features))
        bns = [m for m in tv.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for m in bns:
            m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
            m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch sets the statistics
        if bns:
            tv.train()
            tv(torch.randn(4, 3, size, size, generator=g))
    return tv.eval()


def _check_same_structure(ours: nn.Module, tv: torch.nn.Module) -> None:
    sd_tv, sd = tv.state_dict(), ours.state_dict()
    assert list(sd) == list(sd_tv), (sorted(set(sd) - set(sd_tv))[:5], sorted(set(sd_tv) - set(sd))[:5])
    bad = [k for k in sd if tuple(sd[k].shape) != tuple(sd_tv[k].shape)]
    assert not bad, bad[:5]


def _max_rel(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(y - ref).max() / np.abs(ref).max())


@functools.cache
def _apply():
    return jax.jit(lambda m, x: m(x))


def _parity(make_ours, make_tv, size: int = 32, batch: int = 2, seed: int = 0) -> None:
    torch.manual_seed(seed)
    tv = _calibrated(make_tv(), size, seed)
    ours = make_ours()
    _check_same_structure(ours, tv)
    ours = ours.load_state_dict(tv.state_dict()).eval()
    x = np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref = tv(torch.from_numpy(x)).numpy()
    assert np.abs(ref).max() > 1e-2 and ref.std() > 1e-3  # a meaningful comparison
    y = np.asarray(_apply()(ours, jnp.asarray(x)))
    assert y.shape == ref.shape
    assert _max_rel(y, ref) <= RTOL


# ---------------------------------------------------------------------------------------------------
# forward parity per family (small configurations of the same classes, plus full ResNet-18)
def test_resnet18_matches_torchvision():
    _parity(lambda: models.resnet18(num_classes=10), lambda: tvm.resnet18(num_classes=10))


def test_resnext_bottleneck_dilation_matches_torchvision():
    # Bottleneck blocks with groups (ResNeXt), a wide width, and dilation instead of stride in stage 4.
    kw = dict(groups=2, width_per_group=32, replace_stride_with_dilation=[False, False, True], num_classes=7)
    _parity(
        lambda: models.ResNet(models.Bottleneck, [1, 1, 1, 1], **kw),
        lambda: tvm.resnet.ResNet(tvm.resnet.Bottleneck, [1, 1, 1, 1], **kw),
    )


def test_mobilenet_v2_matches_torchvision():
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2]]
    kw = dict(num_classes=10, width_mult=0.5, inverted_residual_setting=setting)
    _parity(lambda: models.MobileNetV2(**kw), lambda: tvm.MobileNetV2(**kw))


def test_mobilenet_v3_matches_torchvision():
    def setting(cls):
        c = functools.partial(cls, width_mult=1.0)
        return [c(16, 3, 16, 16, True, "RE", 2, 1), c(16, 3, 72, 24, False, "RE", 2, 1),
                c(24, 5, 96, 24, True, "HS", 1, 1)]  # fmt: skip

    _parity(
        lambda: models.MobileNetV3(setting(models.InvertedResidualConfig), 64, num_classes=10),
        lambda: tvm.mobilenetv3.MobileNetV3(
            setting(tvm.mobilenetv3.InvertedResidualConfig), 64, num_classes=10
        ),
    )


def test_efficientnet_matches_torchvision():
    def setting(cls):
        return [cls(1, 3, 1, 32, 16, 1), cls(6, 5, 2, 16, 24, 2)]

    _parity(
        lambda: models.EfficientNet(setting(models.MBConvConfig), 0.2, num_classes=10),
        lambda: tvm.efficientnet.EfficientNet(setting(tvm.efficientnet.MBConvConfig), 0.2, num_classes=10),
    )


def test_convnext_matches_torchvision():
    def setting(cls):
        return [cls(16, 32, 2), cls(32, None, 1)]

    _parity(
        lambda: models.ConvNeXt(setting(models.CNBlockConfig), num_classes=10),
        lambda: tvm.convnext.ConvNeXt(setting(tvm.convnext.CNBlockConfig), num_classes=10),
    )


def test_vision_transformer_matches_torchvision():
    # representation_size adds heads.pre_logits + tanh before heads.head (the plain head: init test).
    kw = dict(num_classes=10, representation_size=24)
    _parity(
        lambda: models.VisionTransformer(32, 8, 2, 4, 32, 64, **kw),
        lambda: tvm.VisionTransformer(32, 8, 2, 4, 32, 64, **kw),
    )


class _TorchLeNet(torch.nn.Module):
    """PyTorch's tutorial LeNet-5, the reference for models.LeNet5."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(1, 6, 5), torch.nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = (
            torch.nn.Linear(400, 120),
            torch.nn.Linear(120, 84),
            torch.nn.Linear(84, 10),
        )

    def forward(self, x):
        F = torch.nn.functional
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def test_lenet5_matches_pytorch():
    torch.manual_seed(0)
    tv = _TorchLeNet()
    ours = models.lenet5(key=torsh.random.key(0))
    _check_same_structure(ours, tv)
    ours = ours.load_state_dict(tv.state_dict())
    x = np.random.default_rng(0).standard_normal((3, 1, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = tv(torch.from_numpy(x)).numpy()
    assert _max_rel(np.asarray(_apply()(ours, jnp.asarray(x))), ref) <= RTOL
    with pytest.raises(ShapeError, match="pad 28x28"):
        ours(jnp.zeros((1, 1, 28, 28)))


# ---------------------------------------------------------------------------------------------------
# full-size constructors: keys and shapes (torchvision on the meta device: no memory, no init).
# resnet101/wide_resnet50_2 differ from resnet50 only in depth/width arguments (44M/69M parameters
# would add ~20 s of construction here).
FULL = [
    ("resnet18", {}),
    ("resnet34", {}),
    ("resnet50", {}),
    ("resnext50_32x4d", {}),
    ("mobilenet_v2", {}),
    ("mobilenet_v3_small", {}),
    ("mobilenet_v3_large", {}),
    ("efficientnet_b0", {}),
    ("convnext_tiny", {}),
    ("vit_b_16", {"image_size": 64}),
]


@pytest.mark.parametrize(("name", "kwargs"), FULL, ids=[n for n, _ in FULL])
def test_full_size_keys_and_shapes_equal_torchvision(name, kwargs):
    with torch.device("meta"):
        tv = getattr(tvm, name)(num_classes=10, **kwargs)
    ours = getattr(models, name)(num_classes=10, key=torsh.random.key(0), **kwargs)
    _check_same_structure(ours, tv)
    assert ours.num_parameters() == sum(p.numel() for p in tv.parameters())


# ---------------------------------------------------------------------------------------------------
# initialisation: per tensor, torsh's initial values follow torchvision's distribution
def _init_matches(ours: nn.Module, tv: torch.nn.Module) -> None:
    sd = {k: np.asarray(v, np.float64) for k, v in ours.state_dict().items()}
    for k, ref in tv.state_dict().items():
        ref = ref.double().numpy()
        got = sd[k]
        if ref.std() == 0:  # constants (BatchNorm, zero biases, layer scale, zero heads): exact
            np.testing.assert_array_equal(got, ref, err_msg=k)
            continue
        n = ref.size
        if n < 64:
            continue
        # Same distribution: mean within 6 standard errors, std within 6 standard errors (~1/sqrt(2n)).
        assert abs(got.mean() - ref.mean()) <= 6 * ref.std() / math.sqrt(n) + 1e-9, k
        assert abs(got.std() / ref.std() - 1) <= 6 / math.sqrt(2 * n) + 0.02, (k, got.std(), ref.std())
        assert abs(got).max() <= abs(ref).max() * 1.5 + 1e-6, (
            k
        )  # bounded like the reference (uniform/truncated)


INIT = [
    (
        "resnet",
        lambda m: m.resnet.ResNet(m.resnet.Bottleneck, [1, 1, 1, 1], num_classes=10, zero_init_residual=True),
    ),
    ("mobilenet_v2", lambda m: m.mobilenet_v2(num_classes=10)),
    ("mobilenet_v3_small", lambda m: m.mobilenet_v3_small(num_classes=10)),
    ("efficientnet_b0", lambda m: m.efficientnet_b0(num_classes=10)),
    (
        "convnext",
        lambda m: m.convnext.ConvNeXt(
            [m.convnext.CNBlockConfig(64, 128, 1), m.convnext.CNBlockConfig(128, None, 1)]
        ),
    ),
    ("vit", lambda m: m.VisionTransformer(32, 4, 2, 4, 128, 256, num_classes=10)),
]


@pytest.mark.parametrize(("name", "make"), INIT, ids=[n for n, _ in INIT])
def test_initialisation_follows_torchvision(name, make):
    torch.manual_seed(0)
    torsh.manual_seed(0)
    _init_matches(make(models), make(tvm))


def test_construction_is_deterministic_per_key():
    a = models.mobilenet_v3_small(num_classes=3, key=torsh.random.key(1))
    b = models.mobilenet_v3_small(num_classes=3, key=torsh.random.key(1))
    c = models.mobilenet_v3_small(num_classes=3, key=torsh.random.key(2))
    assert torsh.tree.allclose(a, b)
    assert not bool(jnp.array_equal(a.features[0][0].weight, c.features[0][0].weight))
    assert models.resnet18(key=0, dtype="bfloat16").conv1.weight.dtype == jnp.bfloat16


# ---------------------------------------------------------------------------------------------------
# load_weights: torchvision checkpoints saved as safetensors
@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    tv = tvm.resnet18(num_classes=10)
    path = tmp_path_factory.mktemp("weights") / "resnet18.safetensors"
    save_file(tv.state_dict(), str(path))
    return tv, path


def test_load_weights_reads_a_torchvision_safetensors_checkpoint(resnet18_file):
    tv, path = resnet18_file
    model = models.load_weights(models.resnet18(num_classes=10, key=torsh.random.key(0)).eval(), path)
    for k, v in tv.state_dict().items():
        np.testing.assert_array_equal(np.asarray(model.state_dict()[k]), v.numpy(), err_msg=k)
    assert model.training is False and model.bn1.num_batches_tracked.dtype == jnp.int32
    same = models.resnet18(num_classes=10, weights=path)
    assert torsh.tree.allclose(same.state_dict(), model.state_dict())


def test_load_weights_names_bad_keys_and_shapes(resnet18_file, tmp_path):
    from safetensors.torch import save_file

    tv, path = resnet18_file
    with pytest.raises(torsh.serialize.StateDictMismatchError, match=r"fc\.weight.*\[1000, 512\]|fc\.weight"):
        models.load_weights(models.resnet18(num_classes=1000, key=0), path)
    sd = dict(tv.state_dict())
    del sd["layer1.0.conv1.weight"]
    sd["extra.weight"] = torch.zeros(2)
    bad = tmp_path / "bad.safetensors"
    save_file(sd, str(bad))
    with pytest.raises(torsh.serialize.StateDictMismatchError) as e:
        models.load_weights(models.resnet18(num_classes=10, key=0), bad)
    assert "layer1.0.conv1.weight" in str(e.value) and "extra.weight" in str(e.value)
    partial = models.load_weights(models.resnet18(num_classes=10, key=0), bad, strict=False)
    np.testing.assert_array_equal(np.asarray(partial.fc.weight), sd["fc.weight"].numpy())
    with pytest.raises(CheckpointError, match="never downloads"):
        models.resnet18(weights=str(tmp_path / "missing.safetensors"))
    pth = tmp_path / "w.pth"
    pth.write_bytes(b"")
    with pytest.raises(CheckpointError, match="torsh convert"):
        models.load_weights(models.resnet18(key=0), pth)


# ---------------------------------------------------------------------------------------------------
# errors, training mode, logical axes
def test_configuration_and_input_errors():
    with pytest.raises(ConfigError, match="divisible by patch_size"):
        models.VisionTransformer(30, 8, 1, 1, 8, 8)
    with pytest.raises(ConfigError, match="BasicBlock only supports"):
        models.ResNet(models.BasicBlock, [1, 1, 1, 1], groups=2)
    with pytest.raises(ConfigError, match="replace_stride_with_dilation"):
        models.resnet50(replace_stride_with_dilation=[True])
    vit = models.VisionTransformer(16, 8, 1, 2, 8, 16, num_classes=3, key=0)
    with pytest.raises(ShapeError, match="image_size=16"):
        vit(jnp.zeros((1, 3, 32, 32)))


def test_training_mode_needs_a_key_for_stochastic_depth():
    # EfficientNet: the key reaches StochasticDepth in MBConv blocks nested in Sequentials, and dropout.
    setting = [models.MBConvConfig(1, 3, 1, 16, 16, 2)]
    m = models.EfficientNet(setting, 0.2, stochastic_depth_prob=0.9, num_classes=2, key=0)
    x = jax.random.normal(torsh.random.key(3), (8, 3, 8, 8))
    with pytest.raises(ConfigError, match="needs a PRNG key"):
        jax.eval_shape(lambda m, x: nn.stateful(m)(x)[0], m, x)
    f = jax.jit(lambda m, x, k: nn.stateful(m)(x, key=k)[0])
    a, b = f(m, x, torsh.random.key(0)), f(m, x, torsh.random.key(0))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # the key decides
    c = f(m, x, torsh.random.key(1))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_logical_axes_let_megatron_rules_split_the_vit():
    from torsh import distributed as dist

    vit = models.VisionTransformer(16, 8, 1, 2, 8, 16, num_classes=3, key=0)
    axes = nn.logical_axes(vit)
    assert axes["encoder.layers.encoder_layer_0.mlp.0.weight"] == ("mlp", "embed")
    assert axes["encoder.layers.encoder_layer_0.mlp.3.weight"] == ("embed", "mlp")
    assert axes["encoder.layers.encoder_layer_0.self_attention.in_proj_weight"] == ("heads", "embed")
    assert axes["heads.head.weight"] == ("classes", "embed")
    mesh = dist.mesh({"data": 1, "model": 1})
    spec = dist.data_model_parallel().spec(
        "w", (16, 8), axes["encoder.layers.encoder_layer_0.mlp.0.weight"], mesh
    )
    assert spec == jax.sharding.PartitionSpec("model", None)
    r = nn.logical_axes(models.resnet18(num_classes=4, key=0))
    assert r["conv1.weight"] == ("out", "in", "kh", "kw") and r["bn1.weight"] == ("channels",)


@pytest.mark.parametrize(
    ("model", "config", "name"),
    [
        (models.EfficientNet, "MBConvConfig", "inverted_residual_setting"),
        (models.MobileNetV3, "InvertedResidualConfig", "inverted_residual_setting"),
        (models.ConvNeXt, "CNBlockConfig", "block_setting"),
    ],
)
def test_stage_lists_are_checked_as_torchvision_does(model, config, name):
    # torchvision's messages, raised before anything is built
    with pytest.raises(ConfigError, match=rf"^The {name} should not be empty$"):
        model([], 0.2)
    with pytest.raises(ConfigError, match=rf"^The {name} should be List\[{config}\]$"):
        model([object()], 0.2)
