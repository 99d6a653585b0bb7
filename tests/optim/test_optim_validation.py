"""Invalid hyperparameters fail at construction with a ConfigError naming the argument and the value."""

from __future__ import annotations

import math

import pytest

from torsh import optim
from torsh.errors import ConfigError

BAD = [
    # (optimizer, kwargs, text that must appear in the message)
    (optim.SGD, {"lr": -0.1}, "SGD: lr must be a finite number >= 0, got -0.1"),
    (optim.SGD, {"momentum": -0.5}, "SGD: momentum must be a finite number >= 0, got -0.5"),
    (
        optim.SGD,
        {"nesterov": True},
        "SGD: nesterov=True requires momentum > 0 and dampening == 0, got momentum=0.0",
    ),
    (optim.SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "dampening=0.1"),
    (optim.SGD, {"weight_decay": -1e-4}, "SGD: weight_decay must be a finite number >= 0, got -0.0001"),
    (optim.SGD, {"lr": "0.1"}, "SGD: lr must be a real number, got '0.1'"),
    (optim.SGD, {"lr": math.nan}, "SGD: lr must be a real number, got nan"),
    (optim.SGD, {"lr": math.inf}, "SGD: lr must be a finite number >= 0, got inf"),
    (optim.SGD, {"nesterov": 1}, "SGD: nesterov must be True or False, got 1"),
    (optim.Adam, {"betas": (1.0, 0.999)}, "Adam: betas[0] must be in [0, 1), got 1.0"),
    (optim.Adam, {"betas": (0.9, -0.1)}, "Adam: betas[1] must be in [0, 1), got -0.1"),
    (optim.Adam, {"betas": 0.9}, "Adam: betas must be a pair (beta1, beta2), got 0.9"),
    (optim.Adam, {"eps": 0.0}, "Adam: eps must be a finite number > 0, got 0.0"),
    (optim.Adam, {"eps": -1e-8}, "Adam: eps must be a finite number > 0, got -1e-08"),
    (optim.Adam, {"amsgrad": "yes"}, "Adam: amsgrad must be True or False, got 'yes'"),
    (optim.AdamW, {"weight_decay": -0.01}, "AdamW: weight_decay must be a finite number >= 0, got -0.01"),
    (optim.AdamW, {"lr": -1}, "AdamW: lr must be a finite number >= 0, got -1"),
    (optim.NAdam, {"momentum_decay": -1.0}, "NAdam: momentum_decay must be a finite number >= 0, got -1.0"),
    (optim.NAdam, {"betas": (0.9, 1.5)}, "NAdam: betas[1] must be in [0, 1), got 1.5"),
    (optim.RAdam, {"eps": 0}, "RAdam: eps must be a finite number > 0, got 0"),
    (optim.Adamax, {"betas": (-0.1, 0.9)}, "Adamax: betas[0] must be in [0, 1), got -0.1"),
    (optim.Adagrad, {"lr_decay": -0.1}, "Adagrad: lr_decay must be a finite number >= 0, got -0.1"),
    (
        optim.Adagrad,
        {"initial_accumulator_value": -1.0},
        "initial_accumulator_value must be a finite number >= 0",
    ),
    (optim.RMSprop, {"alpha": 1.0}, "RMSprop: alpha must be in [0, 1), got 1.0"),
    (optim.RMSprop, {"momentum": -0.9}, "RMSprop: momentum must be a finite number >= 0, got -0.9"),
    (optim.RMSprop, {"centered": None}, "RMSprop: centered must be True or False, got None"),
    (optim.Adadelta, {"rho": 1.1}, "Adadelta: rho must be in [0, 1], got 1.1"),
    (optim.Adadelta, {"eps": 0.0}, "Adadelta: eps must be a finite number > 0, got 0.0"),
    (optim.LAMB, {"betas": (0.9, 1.0)}, "LAMB: betas[1] must be in [0, 1), got 1.0"),
    (optim.LAMB, {"weight_decay": -0.1}, "LAMB: weight_decay must be a finite number >= 0, got -0.1"),
    (optim.Lion, {"lr": -1e-4}, "Lion: lr must be a finite number >= 0, got -0.0001"),
    (optim.Lion, {"betas": (0.9,)}, "Lion: betas must be a pair (beta1, beta2), got (0.9,)"),
    (optim.LBFGS, {"lr": -1.0}, "LBFGS: lr must be a finite number >= 0, got -1.0"),
    (optim.LBFGS, {"history_size": 0}, "LBFGS: history_size must be an integer >= 1, got 0"),
    (optim.LBFGS, {"tolerance_grad": -1.0}, "LBFGS: tolerance_grad must be a finite number >= 0, got -1.0"),
]


@pytest.mark.parametrize("cls,kwargs,message", BAD, ids=[f"{c.__name__}-{'-'.join(k)}" for c, k, _ in BAD])
def test_invalid_hyperparameters_raise_config_error(cls, kwargs, message):
    with pytest.raises(ConfigError) as e:
        cls(**kwargs)
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)  # torsh errors also derive from the builtin users catch


def test_unknown_argument_is_a_type_error():
    with pytest.raises(TypeError):
        optim.Adam(foreach=True)  # PyTorch kernel-selection flags do not exist here


def test_valid_edge_values_are_accepted():
    optim.SGD(lr=0.0, momentum=0.0)
    optim.Adam(betas=(0.0, 0.0))
    optim.Adadelta(rho=1.0)
    optim.RMSprop(alpha=0.0)
    optim.SGD(lr=optim.schedules.constant(0.1))


def test_wrappers_validate_too():
    with pytest.raises(
        ConfigError, match="clip_by_global_norm: max_norm must be a finite number >= 0, got -1"
    ):
        optim.clip_by_global_norm(-1)
    with pytest.raises(ConfigError, match="norm_type must be a number > 0"):
        optim.clip_by_global_norm(1.0, norm_type=0)
    with pytest.raises(ConfigError, match="clip_by_value: clip_value"):
        optim.clip_by_value(-0.5)
    with pytest.raises(ConfigError, match="add_decayed_weights: weight_decay"):
        optim.add_decayed_weights(-0.1)
    with pytest.raises(ConfigError, match="masked: inner"):
        optim.masked(lambda g: g, "*")
    with pytest.raises(ConfigError, match="MultiSteps: opt"):
        optim.MultiSteps(optim.LBFGS(), 2)
