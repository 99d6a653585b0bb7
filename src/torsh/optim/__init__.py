"""Pure optimizers, learning-rate schedules and gradient transformations.

Optimizers have PyTorch's names, arguments, defaults and update rules, and JAX's purity:
``state = opt.init(params)``, ``params, state = opt.step(params, grads, state)`` (or the composable
``updates, state = opt.update(grads, state, params)`` with :func:`apply_updates`). They work on any
pytree — a torsh module, a dict of arrays — and update only its trainable leaves. Their state is a
named :class:`torsh.tree.Struct` (``state.step``, ``state.lr``, ``state.exp_avg``...) whose
``state_dict()`` keys follow the parameters' dotted names (``exp_avg.0.weight``).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from torsh import optim
    >>> params = {"w": jnp.array([1.0, -2.0]), "b": jnp.zeros(())}
    >>> opt = optim.chain(
    ...     optim.clip_by_global_norm(1.0),
    ...     optim.AdamW(lr=optim.schedules.cosine_annealing(1e-2, T_max=100), weight_decay=0.01,
    ...                 param_groups=[optim.ParamGroup("b", weight_decay=0.0)]),
    ... )
    >>> state = opt.init(params)
    >>> loss = lambda p: jnp.sum((p["w"] - 3.0) ** 2) + p["b"] ** 2
    >>> @jax.jit
    ... def train_step(params, state):
    ...     grads = jax.grad(loss)(params)
    ...     return opt.step(params, grads, state)
    >>> for _ in range(100):
    ...     params, state = train_step(params, state)
    >>> int(state[1].step), float(state[1].lr["default"]) < 1e-6
    (100, True)
"""

from . import schedules
from ._adabelief import AdaBelief, AdaBeliefState
from ._adadelta import Adadelta, AdadeltaState
from ._adafactor import Adafactor, AdafactorState
from ._adagrad import Adagrad, AdagradState
from ._adam import Adam, AdamState, AdamW
from ._adamax import Adamax, AdamaxState
from ._asgd import ASGD, ASGDState
from ._base import Chain, ChainState, GradientTransformation, apply_updates, chain
from ._config import option
from ._ema import EMA, EMAState
from ._groups import ParamGroup
from ._lamb import LAMB, LAMBState
from ._lbfgs import LBFGS, LBFGSState
from ._lion import Lion, LionState
from ._lookahead import Lookahead, LookaheadState
from ._lr import get_lr, set_lr
from ._muon import Muon, MuonState
from ._nadam import NAdam, NAdamState
from ._optimizer import Leaf, Optimizer, bias_correction
from ._plateau import ReduceLROnPlateau
from ._prodigy import Prodigy, ProdigyState
from ._radam import RAdam, RAdamState
from ._rmsprop import RMSprop, RMSpropState
from ._rprop import Rprop, RpropState
from ._schedule_free import ScheduleFree, ScheduleFreeState, schedule_free_adamw, schedule_free_sgd
from ._sgd import SGD, SGDState
from ._shampoo import Shampoo, ShampooState
from ._sophia import Sophia, SophiaState, gnb_hessian, hutchinson_hessian
from ._state import OptState, load_state_dict, state_dict
from ._transforms import (
    ClipState,
    EmptyState,
    MaskedState,
    add_decayed_weights,
    clip_by_global_norm,
    clip_by_value,
    clip_grad_norm,
    clip_grad_value,
    global_norm,
    masked,
    scale,
)
from ._wrappers import DynamicLossScale, LossScaleState, MultiSteps, MultiStepsState, all_finite

__all__ = [
    # beyond PyTorch (optim-rest)
    "AdaBelief",
    "AdaBeliefState",
    "Lookahead",
    "LookaheadState",
    "ScheduleFree",
    "ScheduleFreeState",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "Prodigy",
    "ProdigyState",
    "Sophia",
    "SophiaState",
    "gnb_hessian",
    "hutchinson_hessian",
    "Shampoo",
    "ShampooState",
    # protocol and composition
    "GradientTransformation",
    "Optimizer",
    "Leaf",
    "option",
    "bias_correction",
    "Chain",
    "chain",
    "apply_updates",
    "ParamGroup",
    # optimizers
    "SGD",
    "Adam",
    "AdamW",
    "NAdam",
    "RAdam",
    "Adamax",
    "Adagrad",
    "RMSprop",
    "Adadelta",
    "LAMB",
    "Lion",
    "Rprop",
    "ASGD",
    "Adafactor",
    "Muon",
    "LBFGS",
    # states
    "OptState",
    "ChainState",
    "SGDState",
    "AdamState",
    "NAdamState",
    "RAdamState",
    "AdamaxState",
    "AdagradState",
    "RMSpropState",
    "AdadeltaState",
    "LAMBState",
    "LionState",
    "RpropState",
    "ASGDState",
    "AdafactorState",
    "MuonState",
    "LBFGSState",
    "EmptyState",
    "ClipState",
    "MaskedState",
    "MultiStepsState",
    "LossScaleState",
    "EMAState",
    "state_dict",
    "load_state_dict",
    "get_lr",
    "set_lr",
    # schedules
    "schedules",
    "ReduceLROnPlateau",
    # gradient transformations and wrappers
    "clip_by_global_norm",
    "clip_by_value",
    "clip_grad_norm",
    "clip_grad_value",
    "global_norm",
    "add_decayed_weights",
    "masked",
    "scale",
    "MultiSteps",
    "DynamicLossScale",
    "all_finite",
    "EMA",
]
