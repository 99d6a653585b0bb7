"""Per-parameter options by name pattern or predicate, against torch.optim parameter groups."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _optim_reference import (
    assert_trajectories_close,
    grad_stream,
    make_params,
    torch_trajectory,
    torsh_trajectory,
)

from torsh import optim
from torsh.errors import ConfigError

T = torch.optim


@pytest.fixture(scope="module")
def data():
    return make_params(0), grad_stream(1)


CASES = [
    (
        "adamw-no-decay-on-bias",
        optim.AdamW(lr=1e-2, weight_decay=0.2, param_groups=[optim.ParamGroup("b", "s", weight_decay=0.0)]),
        lambda p: T.AdamW(p, lr=1e-2, weight_decay=0.2),
        lambda tp: [{"params": [tp["w"]]}, {"params": [tp["b"], tp["s"]], "weight_decay": 0.0}],
    ),
    (
        "sgd-lr-and-momentum-per-group",
        optim.SGD(
            lr=0.05,
            momentum=0.9,
            param_groups=[{"params": "w", "lr": 0.01, "momentum": 0.5, "nesterov": True}],
        ),
        lambda p: T.SGD(p, lr=0.05, momentum=0.9),
        lambda tp: [
            {"params": [tp["b"], tp["s"]]},
            {"params": [tp["w"]], "lr": 0.01, "momentum": 0.5, "nesterov": True},
        ],
    ),
    (
        "adam-amsgrad-and-betas-per-group",
        optim.Adam(
            lr=1e-2,
            param_groups=[optim.ParamGroup(lambda path, x: x.ndim == 2, amsgrad=True, betas=(0.5, 0.9))],
        ),
        lambda p: T.Adam(p, lr=1e-2),
        lambda tp: [
            {"params": [tp["b"], tp["s"]]},
            {"params": [tp["w"]], "amsgrad": True, "betas": (0.5, 0.9)},
        ],
    ),
    (
        "nadam-groups",
        optim.NAdam(lr=1e-2, param_groups=[optim.ParamGroup("w", betas=(0.8, 0.99), momentum_decay=0.01)]),
        lambda p: T.NAdam(p, lr=1e-2),
        lambda tp: [
            {"params": [tp["b"], tp["s"]]},
            {"params": [tp["w"]], "betas": (0.8, 0.99), "momentum_decay": 0.01},
        ],
    ),
    (
        "rmsprop-centered-group",
        optim.RMSprop(lr=1e-2, param_groups=[optim.ParamGroup("s", centered=True, momentum=0.9)]),
        lambda p: T.RMSprop(p, lr=1e-2),
        lambda tp: [{"params": [tp["b"], tp["w"]]}, {"params": [tp["s"]], "centered": True, "momentum": 0.9}],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_groups_match_torch_param_groups(case, data):
    _, ours, theirs, groups = case
    params, grads = data
    assert_trajectories_close(
        torsh_trajectory(ours, params, grads), torch_trajectory(theirs, params, grads, groups=groups)
    )


def test_state_keeps_lr_per_group_and_slots_only_where_needed():
    opt = optim.Adam(
        lr=1e-2,
        param_groups=[
            optim.ParamGroup("enc.*", lr=1e-3, name="encoder"),
            optim.ParamGroup("head.w", amsgrad=True),
        ],
    )
    params = {"enc": {"a": jnp.ones(2), "b": jnp.ones(2)}, "head": {"w": jnp.ones(2), "v": jnp.ones(2)}}
    state = opt.init(params)
    assert {k: round(float(v), 6) for k, v in state.lr.items()} == {
        "default": 0.01,
        "encoder": 0.001,
        "group2": 0.01,
    }
    assert [k for k in state.state_dict() if k.startswith("max_exp_avg_sq")] == ["max_exp_avg_sq.head.w"]
    assert state.hyperparams["group2"]["amsgrad"] is True and state.hyperparams["default"]["amsgrad"] is False
    # changing one group's lr moves only its parameters
    frozen_enc = optim.set_lr(state, lambda name, lr: 0.0 if name == "encoder" else lr)
    g = {"enc": {"a": jnp.ones(2), "b": jnp.ones(2)}, "head": {"w": jnp.ones(2), "v": jnp.ones(2)}}
    new, _ = jax.jit(opt.step)(params, g, frozen_enc)
    np.testing.assert_array_equal(new["enc"]["a"], params["enc"]["a"])
    assert not np.allclose(new["head"]["v"], params["head"]["v"])


def test_first_matching_group_wins_and_prefix_patterns():
    opt = optim.SGD(
        lr=1.0,
        param_groups=[
            optim.ParamGroup("encoder", lr=0.1),  # a prefix selects everything under it
            optim.ParamGroup("*.bias", lr=0.01),  # encoder.bias is already taken by the first group
        ],
    )
    params = {"encoder": {"weight": jnp.zeros(1), "bias": jnp.zeros(1)}, "head": {"bias": jnp.zeros(1)}}
    g = {"encoder": {"weight": jnp.ones(1), "bias": jnp.ones(1)}, "head": {"bias": jnp.ones(1)}}
    new, _ = opt.step(params, g, opt.init(params))
    assert new["encoder"]["weight"].tolist() == pytest.approx([-0.1])
    assert new["encoder"]["bias"].tolist() == pytest.approx([-0.1])
    assert new["head"]["bias"].tolist() == pytest.approx([-0.01])


def test_group_errors():
    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    with pytest.raises(ConfigError, match=r"selects no trainable parameter.*trainable parameters are: b, w"):
        optim.SGD(param_groups=[optim.ParamGroup("*.bais", weight_decay=0.0)]).init(params)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['weight_dacay'\]"):
        optim.SGD(param_groups=[optim.ParamGroup("b", weight_dacay=0.0)])
    with pytest.raises(
        ConfigError, match=r"SGD param group 'group1': lr must be a finite number >= 0, got -1"
    ):
        optim.SGD(param_groups=[optim.ParamGroup("b", lr=-1)])
    with pytest.raises(ConfigError, match="named 'x'"):
        optim.SGD(param_groups=[optim.ParamGroup("b", name="x"), optim.ParamGroup("w", name="x")])
    with pytest.raises(ConfigError, match="named 'default'"):
        optim.SGD(param_groups=[optim.ParamGroup("b", name="default")])
    with pytest.raises(ConfigError, match="at least one selector"):
        optim.ParamGroup(lr=0.1)
    with pytest.raises(ConfigError, match="name pattern"):
        optim.ParamGroup(3)
    with pytest.raises(ConfigError, match="'params'"):
        optim.SGD(param_groups=[{"lr": 0.1}])
    with pytest.raises(ConfigError, match="not by object"):
        optim.SGD(param_groups=[{"params": object()}])
    with pytest.raises(ConfigError, match="without dots"):
        optim.ParamGroup("b", name="a.b")
    with pytest.raises(ConfigError, match="nesterov"):
        optim.SGD(momentum=0.9, param_groups=[optim.ParamGroup("b", momentum=0.0, nesterov=True)])
