"""``TrainState``: everything a training step changes, as one pytree."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..tree import Struct, field

__all__ = ["TrainState"]


class TrainState(Struct):
    """Model, optimizer state, step counter, RNG key and any extras, as one immutable pytree.

    Build it with :meth:`create`; a jitted step takes it and returns the next one (donate it:
    ``torsh.jit(step, donate="state")``). It is saved and restored as one checkpoint item by
    :func:`torsh.train.fit`.

    Args:
      model: the model (any pytree; usually a ``torsh.nn`` module).
      opt_state: the optimizer's state (``opt.init(model)``).
      step: an int32 scalar array: optimizer steps taken.
      key: a typed PRNG key for this step's randomness (dropout); :meth:`apply_gradients` replaces it
        with a fresh one, so every step draws new random numbers and a resumed run draws the same.
      extra: the keyword extras given to :meth:`create` (read them as attributes: ``state.ema``).
      opt: the optimizer (static configuration, not saved).

    Raises:
      ConfigError: (:meth:`create`) ``opt`` is not an optimizer, ``key`` is not a typed PRNG key, or
        an extra's name clashes with a field.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import optim, train
      >>> state = train.TrainState.create(model={"w": jnp.ones(2)}, opt=optim.SGD(lr=0.5),
      ...                                 key=torsh.random.key(0), seen=jnp.int32(0))
      >>> state = state.apply_gradients({"w": jnp.ones(2)}, seen=state.seen + 4)
      >>> state.model["w"].tolist(), int(state.step), int(state.seen)
      ([0.5, 0.5], 1, 4)
    """

    model: Any
    opt_state: Any
    step: jax.Array
    key: Any
    extra: dict = field(default_factory=dict)
    opt: Any = field(static=True, default=None)

    @classmethod
    def create(cls, *, model: Any, opt: Any, key: Any = None, **extra: Any) -> TrainState:
        """A state at step 0: ``opt_state = opt.init(model)``; ``key`` defaults to ``torsh.random.key(0)``.

        Args:
          model: the model (any pytree).
          opt: a ``torsh.optim`` optimizer or gradient transformation.
          key: a typed PRNG key (``torsh.random.key(seed)``).
          **extra: more arrays carried by the state (EMA weights, BatchNorm statistics...).

        Returns:
          The :class:`TrainState`.

        Raises:
          ConfigError: ``opt`` has no ``init``/``update``, ``key`` is not a typed PRNG key, or an
            extra is named like a field.

        Example:
          >>> import torsh, jax.numpy as jnp
          >>> from torsh import optim, train
          >>> state = train.TrainState.create(model={"w": jnp.ones(2)}, opt=optim.SGD(lr=0.5),
          ...                                 key=torsh.random.key(0), ema=jnp.zeros(2))
          >>> int(state.step), state.ema.tolist()
          (0, [0.0, 0.0])
        """
        if not (hasattr(opt, "init") and hasattr(opt, "update")):
            raise ConfigError(
                f"TrainState.create: opt must be a torsh.optim optimizer or gradient transformation "
                f"(with init/update), got {type(opt).__name__}"
            )
        if key is None:
            key = jax.random.key(0)
        elif not (hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)):
            raise ConfigError(
                f"TrainState.create: key must be a typed PRNG key (torsh.random.key(seed)), got {key!r}"
            )
        reserved = sorted(set(extra) & {"model", "opt_state", "step", "key", "extra", "opt"})
        if reserved:
            raise ConfigError(f"TrainState.create: extras {reserved} clash with TrainState's own fields")
        return cls(
            model=model,
            opt_state=opt.init(model),
            step=jnp.zeros((), jnp.int32),
            key=key,
            extra=dict(extra),
            opt=opt,
        )

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: the extras read as attributes.
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(
            f"TrainState has no field {name!r}; fields are model, opt_state, step, key, opt"
            + (f" and extras {sorted(extra)}" if extra else "")
        )

    def replace(self, **changes: Any) -> TrainState:
        """A copy with fields (or extras, by name) replaced.

        Args:
          **changes: new values of fields (``model=``...) or of extras (``ema=``...).

        Returns:
          The new state.

        Raises:
          ConfigError: a name that is neither a field nor an extra given to :meth:`create`.

        Example:
          >>> import torsh, jax.numpy as jnp
          >>> from torsh import optim, train
          >>> state = train.TrainState.create(model={"w": jnp.ones(2)}, opt=optim.SGD(lr=0.5),
          ...                                 key=torsh.random.key(0), ema=jnp.zeros(2))
          >>> state.replace(ema=jnp.ones(2)).ema.tolist()
          [1.0, 1.0]
        """
        own = {"model", "opt_state", "step", "key", "extra", "opt"}
        extras = {k: v for k, v in changes.items() if k not in own}
        unknown = sorted(set(extras) - set(self.extra))
        if unknown:
            raise ConfigError(
                f"TrainState.replace: unknown field(s) {unknown}; fields are {sorted(own)}, extras "
                f"{sorted(self.extra)} (add extras with TrainState.create(..., name=value))"
            )
        plain = {k: v for k, v in changes.items() if k in own}
        if extras:
            plain["extra"] = {**self.extra, **extras}
        return super().replace(**plain)

    def apply_gradients(self, grads: Any, **changes: Any) -> TrainState:
        """One optimizer step: new model and optimizer state, ``step + 1`` and a fresh key.

        Args:
          grads: gradients with the model's structure (``torsh.grad(loss)(state.model)``).
          **changes: other fields or extras replaced at the same time (e.g. BatchNorm statistics).

        Returns:
          The next state.

        Raises:
          ConfigError: the state has no optimizer, or an unknown field in ``changes``.

        Example:
          >>> import torsh, jax.numpy as jnp
          >>> from torsh import optim, train
          >>> state = train.TrainState.create(model={"w": jnp.ones(2)}, opt=optim.SGD(lr=0.5),
          ...                                 key=torsh.random.key(0), ema=jnp.zeros(2))
          >>> state = state.apply_gradients({"w": jnp.ones(2)})
          >>> state.model["w"].tolist(), int(state.step)
          ([0.5, 0.5], 1)
        """
        if self.opt is None:
            raise ConfigError(
                "TrainState.apply_gradients: the state has no optimizer; build it with create()"
            )
        model, opt_state = self.opt.step(self.model, grads, self.opt_state)
        new_key = jax.random.split(self.key)[0]
        return self.replace(model=model, opt_state=opt_state, step=self.step + 1, key=new_key, **changes)
