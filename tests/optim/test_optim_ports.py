"""torch.optim's Rprop, ASGD, Adafactor and Muon, written on the public Optimizer API: trajectories
equal torch.optim's (identical parameters and gradient stream, every step) in float32 and float64."""

from __future__ import annotations

import jax
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
from torsh.errors import ConfigError, ShapeError

T = torch.optim
STEPS = 50

CASES = [
    ("rprop", optim.Rprop(lr=0.01), lambda p: T.Rprop(p, lr=0.01)),
    (
        "rprop-options",
        optim.Rprop(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True),
        lambda p: T.Rprop(p, lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True),
    ),
    ("asgd", optim.ASGD(lr=0.02), lambda p: T.ASGD(p, lr=0.02)),
    (
        "asgd-averaging-wd",
        optim.ASGD(lr=0.05, lambd=1e-2, alpha=0.6, t0=10.0, weight_decay=0.01),
        lambda p: T.ASGD(p, lr=0.05, lambd=1e-2, alpha=0.6, t0=10.0, weight_decay=0.01),
    ),
    ("adafactor", optim.Adafactor(lr=0.01), lambda p: T.Adafactor(p, lr=0.01)),
    (
        "adafactor-options",
        optim.Adafactor(lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=1.5, weight_decay=0.1, maximize=True),
        lambda p: T.Adafactor(
            p, lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=1.5, weight_decay=0.1, maximize=True
        ),
    ),
]

# Muon trains matrices only: a square, a wide and a tall one
MUON_SHAPES = {"a": (4, 4), "b": (3, 5), "c": (6, 2)}
MUON_CASES = [
    ("muon", optim.Muon(lr=0.02), lambda p: T.Muon(p, lr=0.02)),
    (
        "muon-options",
        optim.Muon(
            lr=0.05,
            weight_decay=0.01,
            momentum=0.9,
            nesterov=False,
            ns_steps=3,
            adjust_lr_fn="match_rms_adamw",
        ),
        lambda p: T.Muon(
            p,
            lr=0.05,
            weight_decay=0.01,
            momentum=0.9,
            nesterov=False,
            ns_steps=3,
            adjust_lr_fn="match_rms_adamw",
        ),
    ),
]


def _data(shapes: dict | None, dtype: type) -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    params = (
        make_params()
        if shapes is None
        else {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    )
    grads = grad_stream(steps=STEPS, shapes=shapes)
    return ({k: v.astype(dtype) for k, v in params.items()}, {k: v.astype(dtype) for k, v in grads.items()})


@pytest.mark.parametrize(
    ("name", "ours", "theirs"), CASES + MUON_CASES, ids=[c[0] for c in CASES + MUON_CASES]
)
def test_trajectory_equals_torch_float32(name, ours, theirs):
    params, grads = _data(MUON_SHAPES if name.startswith("muon") else None, np.float32)
    assert_trajectories_close(torsh_trajectory(ours, params, grads), torch_trajectory(theirs, params, grads))


@pytest.mark.parametrize(
    ("name", "ours", "theirs"), CASES + MUON_CASES, ids=[c[0] for c in CASES + MUON_CASES]
)
def test_trajectory_equals_torch_float64(name, ours, theirs):
    params, grads = _data(MUON_SHAPES if name.startswith("muon") else None, np.float64)
    expected = torch_trajectory(theirs, params, grads)
    with jax.enable_x64(True):
        actual = torsh_trajectory(ours, params, grads)
    assert all(v.dtype == np.float64 for v in actual.values())
    # Muon orthogonalizes in bfloat16 in both libraries, whatever the parameters' dtype
    rtol = 1e-5 if name.startswith("muon") else 1e-10
    assert_trajectories_close(actual, expected, rtol=rtol, atol_scale=rtol)


def test_defaults_and_argument_order_equal_torch():
    import inspect

    for name in ("Rprop", "ASGD", "Adafactor", "Muon"):
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(T, name)).parameters
        for arg, p in ours.items():
            if arg in theirs and arg not in ("param_groups",):
                assert p.default == theirs[arg].default or (
                    arg == "step_sizes" and p.default == (1e-6, 50.0)
                ), (
                    name,
                    arg,
                )


def test_states_follow_torch_state_names():
    import jax.numpy as jnp

    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    assert sorted(optim.Rprop().init(params).state_dict()) == [
        "lr.default",
        "prev.b",
        "prev.w",
        "step",
        "step_size.b",
        "step_size.w",
    ]
    assert sorted(optim.ASGD().init(params).state_dict()) == ["ax.b", "ax.w", "lr.default", "step"]
    assert sorted(optim.Adafactor().init(params).state_dict()) == [
        "col_var.w",
        "lr.default",
        "row_var.w",
        "step",
        "variance.b",
    ]
    assert sorted(optim.Muon().init({"w": jnp.ones((3, 2))}).state_dict()) == [
        "lr.default",
        "momentum_buffer.w",
        "step",
    ]


def test_bad_arguments_raise_config_errors():
    import jax.numpy as jnp

    with pytest.raises(ConfigError, match=r"Rprop: etas must be \(eta_minus, eta_plus\)"):
        optim.Rprop(etas=(1.5, 1.2))
    with pytest.raises(ConfigError, match="Adafactor: beta2_decay must be <= 0"):
        optim.Adafactor(beta2_decay=0.5)
    with pytest.raises(ConfigError, match="Adafactor: d must be a clipping threshold >= 1"):
        optim.Adafactor(d=0.5)
    with pytest.raises(ConfigError, match="Muon: ns_steps must be an integer from 1 to 99"):
        optim.Muon(ns_steps=100)
    with pytest.raises(ConfigError, match="Muon: adjust_lr_fn must be one of"):
        optim.Muon(adjust_lr_fn="rms")
    with pytest.raises(ShapeError, match=r"Muon: only matrices .* b \[2\].*optim.masked"):
        optim.Muon().init({"w": jnp.ones((2, 2)), "b": jnp.ones(2)})
    with pytest.raises(ConfigError, match="ASGD: lambd must be a finite number >= 0"):
        optim.ASGD(lambd=-1.0)
