"""torsh.train: a training state that is one pytree, and the training loop written once.

``fit`` is a convenience over functions you can call yourself (:func:`train_epoch`,
:func:`evaluate`); it keeps no hidden state beyond what it returns and checkpoints, so a run killed
at any point and restarted with the same call ends bit-identical to an uninterrupted one.

Example:
    >>> import numpy as np, jax.numpy as jnp, torsh
    >>> from torsh import data, nn, optim, train
    >>> torsh.manual_seed(0)
    >>> ds = data.ArrayDataset(np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32),
    ...                        np.arange(32) % 2)
    >>> state = train.TrainState.create(model=nn.Linear(4, 2), opt=optim.SGD(lr=0.1))
    >>> @torsh.jit(donate="state")
    ... def step(state, batch):
    ...     x, y = batch
    ...     loss_fn = lambda m: nn.functional.cross_entropy(m(x), y)
    ...     loss, grads = torsh.value_and_grad(loss_fn)(state.model)
    ...     return state.apply_gradients(grads), {"loss": loss}
    >>> state, history = train.fit(step, state, data.DataLoader(ds, batch_size=8), epochs=2, progress=False)
    >>> int(state.step), len(history["loss"])
    (8, 2)
"""

from ._callbacks import Callback, EarlyStopping
from ._errors import RecipeError, ResumeError
from ._fit import evaluate, fit, train_epoch
from ._history import History
from ._plot import plot_history, plot_runs
from ._recipes import apply_overrides, list_recipes, load_recipe, parse_value
from ._scan import chunked, scan_steps, stack_batches
from ._state import TrainState
from ._timer import StepTimer

__all__ = [
    "TrainState",
    "fit",
    "train_epoch",
    "evaluate",
    "History",
    "scan_steps",
    "stack_batches",
    "chunked",
    "StepTimer",
    "Callback",
    "EarlyStopping",
    "plot_history",
    "plot_runs",
    "load_recipe",
    "list_recipes",
    "apply_overrides",
    "parse_value",
    "RecipeError",
    "ResumeError",
]
