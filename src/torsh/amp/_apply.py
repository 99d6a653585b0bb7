"""Applying a precision policy to an existing model: :func:`apply`, :class:`AmpModel`, :func:`autocast`.

How it works (no change to the model's code): while a policy is active, ``Module.__call__`` hands
every module call to a hook (``torsh.nn.module.CALL_HOOK``, one ``ContextVar`` lookup per call when
no policy is active). When the outermost module is called, the hook resolves every sub-module's
dtypes by its dotted path and class (the overrides, then ``keep_float32``, else the parent's compute
dtype), casts each module's own floating arrays to its compute dtype once (so a parameter read
directly by a parent, such as a tied embedding, is cast too), and runs the forward pass on that cast
copy. Each module call then casts its floating inputs to its compute dtype; the outermost module and
every module an override or ``keep_float32`` selects cast their floating outputs to their policy's
output dtype. All of this happens while JAX traces: a jitted step contains only the casts.

The stored parameters are never changed by a call, so with float32 ``params`` gradients and
optimizer states are float32 (master weights); the casts' transposes bring the gradients back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..nn import _walk
from ..nn._context import CONTEXT_ERRORS, annotate
from ..nn.module import CALL_HOOK, Module
from ..nn.stateful import _stack as _stateful_stack
from ..tree import field, static
from ._errors import PolicyError
from ._policy import Policy, cast_floating

__all__ = ["AmpModel", "NORM_LAYERS", "apply", "autocast"]


def _norm_layers() -> tuple[type, ...]:
    # every layer torsh.nn.normalization exports (BatchNorm*, SyncBatchNorm, InstanceNorm*, LayerNorm,
    # RMSNorm, GroupNorm, LocalResponseNorm, CrossMapLRN2d): a norm added there is kept in float32 too
    from ..nn import normalization

    return tuple(getattr(normalization, name) for name in normalization.__all__)


#: The normalisation layers of ``torsh.nn``: the default ``keep_float32`` of :func:`apply`.
NORM_LAYERS: tuple[type, ...] = _norm_layers()

_FLOAT32 = Policy()


@dataclasses.dataclass(frozen=True)
class _Rule:
    """One override: modules whose dotted path matches a glob or whose class is listed get ``policy``."""

    patterns: tuple[str, ...]
    classes: tuple[type, ...]
    policy: Policy
    user: bool = True  # a user override (its string patterns must match something when strict)

    def matches(self, path: str | None, module: Module) -> bool:
        if self.patterns:
            name = type(module).__name__
            for p in self.patterns:
                if fnmatch.fnmatchcase(name, p) or (path is not None and fnmatch.fnmatchcase(path, p)):
                    return True
        return bool(self.classes) and isinstance(module, self.classes)


def _key_parts(key: Any, what: str) -> tuple[tuple[str, ...], tuple[type, ...]]:
    items = key if isinstance(key, tuple) else (key,)
    patterns: list[str] = []
    classes: list[type] = []
    for item in items:
        if isinstance(item, str):
            patterns.append(item)
        elif isinstance(item, type) and issubclass(item, Module):
            classes.append(item)
        else:
            raise PolicyError(
                f"{what}: an override key must be a glob on the dotted module path ('*norm*', "
                f"'encoder.layers.*'), an nn.Module subclass, or a tuple of them; got "
                f"{type(item).__name__} {item!r}"
            )
    if not items:
        raise PolicyError(f"{what}: an empty tuple as override key matches nothing")
    return tuple(patterns), tuple(classes)


def _rules(overrides: Any, keep_float32: Any, what: str) -> tuple[_Rule, ...]:
    rules: list[_Rule] = []
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise PolicyError(
                f"{what}: overrides must be a mapping from patterns/classes to policies, such as "
                f"{{'*norm*': amp.Policy()}}; got {type(overrides).__name__} {overrides!r}"
            )
        for key, value in overrides.items():
            patterns, classes = _key_parts(key, what)
            rules.append(_Rule(patterns, classes, Policy.coerce(value, f"{what}: override {key!r}")))
    if keep_float32 is None:
        keep_float32 = ()
    keep = tuple(keep_float32) if isinstance(keep_float32, (tuple, list)) else (keep_float32,)
    for cls in keep:
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise PolicyError(
                f"{what}: keep_float32 must be nn.Module subclasses (default amp.NORM_LAYERS), got "
                f"{type(cls).__name__} {cls!r}"
            )
    if keep:
        rules.append(_Rule((), keep, _FLOAT32, user=False))
    return tuple(rules)


_Resolved = tuple[np.dtype, "np.dtype | None"]  # (compute dtype, output dtype or None: not cast)


def _resolve(rules: Sequence[_Rule], path: str | None, module: Module, parent: np.dtype) -> _Resolved:
    for rule in rules:
        if rule.matches(path, module):
            return rule.policy.compute, rule.policy.output
    return parent, None


def _walk_tree(root: Module) -> Iterator[tuple[str, Module, str | None]]:
    """``(path, module, parent_path)`` pre-order; ``None`` is the root's parent."""
    stack: list[tuple[str, Module, str | None]] = [("", root, None)]
    while stack:
        path, module, parent = stack.pop()
        yield path, module, parent
        stack.extend(reversed([(p, c, path) for p, c in _walk.children(module, path)]))


def _check_patterns(rules: Sequence[_Rule], root: Module, what: str) -> None:
    """Every string pattern of a user override matches some module path or class name (else a typo)."""
    tree = list(_walk_tree(root))
    names = [p for p, _, _ in tree] + sorted({type(m).__name__ for _, m, _ in tree})
    for rule in rules:
        if not rule.user:
            continue
        for pattern in rule.patterns:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                paths = [p for p, _, _ in tree[1:]]
                shown = ", ".join(repr(p) for p in paths[:12]) + (", ..." if len(paths) > 12 else "")
                classes = ", ".join(sorted({type(m).__name__ for _, m, _ in tree}))
                raise PolicyError(
                    f"{what}: override pattern {pattern!r} matches no module path or class name of "
                    f"{type(root).__name__} (paths: {shown}; classes: {classes}); fix the pattern, or "
                    "pass strict=False to allow patterns that match nothing"
                )


def _is_float_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray)) and jnp.issubdtype(x.dtype, jnp.floating)


def _cast_own(module: Module, dtype: np.dtype) -> Module:
    """``module`` with its own floating arrays (not its sub-modules') in ``dtype``; itself if none change."""
    changes: dict[str, Any] = {}
    d = module.__dict__
    for name in module.__torsh_data_fields__:
        value = d[name]
        if value is None or isinstance(value, Module):
            continue
        if _is_float_array(value):
            if value.dtype != dtype:
                changes[name] = jnp.asarray(value).astype(dtype)
            continue
        changed = False

        def one(x: Any) -> Any:
            nonlocal changed
            if _is_float_array(x) and x.dtype != dtype:
                changed = True
                return jnp.asarray(x).astype(dtype)
            return x

        new = jax.tree.map(one, value, is_leaf=lambda x: isinstance(x, Module))
        if changed:
            changes[name] = new
    return module.replace(**changes) if changes else module


def _own_float_dtype(module: Module) -> np.dtype | None:
    for leaf in _walk.direct_leaves(module):
        if not leaf.is_buffer and _is_float_array(leaf.value):
            return leaf.value.dtype
    return None


def _move_updates(pairs: Sequence[tuple[Module, Module]], *, back: bool) -> None:
    """Re-key buffer updates reported to an active ``nn.stateful`` call between originals and cast copies.

    Layers report updates by identity; the forward pass runs on cast copies, so the updates are moved
    to the originals afterwards (``back``; values cast to the original buffers' dtypes), and updates
    from an earlier call in the same ``stateful`` call are moved to the copies before.
    """
    stack = _stateful_stack()
    if not stack:
        return
    updates = stack[-1].updates
    for original, cast in pairs:
        src, dst = (cast, original) if back else (original, cast)
        entry = updates.pop(id(src), None)
        if entry is None or entry[0] is not src:
            if entry is not None:
                updates[id(src)] = entry
            continue
        values = entry[1]
        if back:
            values = {
                k: v.astype(getattr(original, k).dtype) if _is_float_array(getattr(original, k, None)) else v
                for k, v in values.items()
            }
        updates[id(dst)] = (dst, values)


class _Plan:
    """The active policy of one :func:`apply`-ed model or :func:`autocast` block (the call hook)."""

    __slots__ = ("policy", "rules", "strict", "known", "stack", "what")

    def __init__(self, policy: Policy, rules: tuple[_Rule, ...], strict: bool, what: str) -> None:
        self.policy = policy
        self.rules = rules
        self.strict = strict
        self.what = what
        self.known: dict[int, tuple[Module, _Resolved]] = {}  # id(cast module) -> (it, dtypes)
        self.stack: list[np.dtype] = []  # compute dtypes of the modules being called

    def _prepare(self, root: Module) -> tuple[Module, list[tuple[Module, Module]]]:
        """The root's tree with every module's own arrays cast; records each module's dtypes."""
        if self.strict:
            _check_patterns(self.rules, root, self.what)
        resolved: dict[str, _Resolved] = {}
        for path, module, parent in _walk_tree(root):
            if parent is None:
                dtypes = _resolve(self.rules, path, module, self.policy.compute)
                if dtypes[1] is None:  # the root is always cast to the policy's output dtype
                    dtypes = (dtypes[0], self.policy.output)
            else:
                dtypes = _resolve(self.rules, path, module, resolved[parent][0])
            resolved.setdefault(path, dtypes)
        cast_root = _walk.map_modules(root, lambda path, m: _cast_own(m, resolved[path][0]))
        # nn.stateful looks buffer updates up by the original modules' identity: pair them by path.
        originals = dict((p, m) for p, m, _ in _walk_tree(root))
        by_path = list(_walk_tree(cast_root))
        for path, module, _ in by_path:
            self.known[id(module)] = (module, resolved[path])
        return cast_root, [(originals[p], m) for p, m, _ in by_path if originals[p] is not m]

    def __call__(self, module: Module, call: Any, args: tuple, kwargs: dict) -> Any:
        entry = self.known.get(id(module))
        if entry is not None and entry[0] is module:
            return self._run(module, entry[1], call, args, kwargs)
        if not self.stack:  # the outermost module: cast its tree, run the forward pass on the copy
            cast_root, pairs = self._prepare(module)
            _move_updates(pairs, back=False)
            try:
                return self._run(cast_root, self.known[id(cast_root)][1], call, args, kwargs)
            except CONTEXT_ERRORS as e:  # paths relative to the cast copy are the original's paths
                annotate(e, cast_root)
                raise
            finally:
                _move_updates(pairs, back=True)
        # A module rebuilt by a JAX transform inside the forward pass (a nested jit, scan, vmap) or
        # built during it: no path. Class rules, else the dtype the root's cast gave its own arrays,
        # else the caller's compute dtype; its own arrays are cast on the fly.
        dtypes = _resolve(self.rules, None, module, _own_float_dtype(module) or self.stack[-1])
        cast = _cast_own(module, dtypes[0])
        if cast is module:
            return self._run(module, dtypes, call, args, kwargs)
        _move_updates([(module, cast)], back=False)
        try:
            return self._run(cast, dtypes, call, args, kwargs)
        finally:
            _move_updates([(module, cast)], back=True)

    def _run(self, module: Module, dtypes: _Resolved, call: Any, args: tuple, kwargs: dict) -> Any:
        compute, output = dtypes
        args, kwargs = cast_floating((args, kwargs), compute)
        self.stack.append(compute)
        try:
            out = call(module, *args, **kwargs)
        finally:
            self.stack.pop()
        return out if output is None else cast_floating(out, output)


@contextlib.contextmanager
def _active(plan: _Plan) -> Iterator[None]:
    token = CALL_HOOK.set(plan)
    try:
        yield
    finally:
        CALL_HOOK.reset(token)


@contextlib.contextmanager
def autocast(
    policy: Policy | str,
    overrides: Mapping[Any, Policy | str] | None = None,
    *,
    keep_float32: Sequence[type] | type | None = NORM_LAYERS,
    strict: bool = True,
) -> Iterator[None]:
    """Apply ``policy`` to every module called inside the block (at trace time).

    The outermost module called is the root (its outputs are cast to ``policy.output``); see
    :func:`apply` for ``overrides``/``keep_float32``/``strict``. Use it *inside* the function you jit
    (``loss_fn``): JAX caches a jitted function by its arguments, not by this context, so a function
    traced outside the block is not re-traced inside it. :func:`apply` has no such pitfall.

    Args:
      policy: an :class:`Policy` or a policy string.
      overrides: ``{pattern_or_class: policy}``, first match wins (see :func:`apply`).
      keep_float32: module classes computed in float32 (default :data:`NORM_LAYERS`).
      strict: raise when a string pattern matches no module of the root.

    Returns:
      A context manager.

    Raises:
      PolicyError: a bad policy string, override key or value, or (strict) a pattern matching no
        module (raised at the root's call).
      DTypeError: an unknown or non-floating dtype.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import amp, nn
      >>> layer = nn.Linear(3, 2, key=torsh.random.key(0))
      >>> with amp.autocast("compute=bfloat16,output=bfloat16"):
      ...     y = layer(jnp.ones((1, 3)))
      >>> y.dtype, layer.weight.dtype
      (dtype(bfloat16), dtype('float32'))
    """
    what = "amp.autocast"
    plan = _Plan(Policy.coerce(policy, what), _rules(overrides, keep_float32, what), bool(strict), what)
    with _active(plan):
        yield


class AmpModel(Module):
    """A model whose calls run under a precision policy (built by :func:`apply`).

    Its state-dict keys, parameters and gradients are the wrapped model's (the ``module`` field is
    inline), so optimizers, ``TrainState``, ``fit``, ``torsh.save`` and ``nn.stateful`` work on it
    unchanged. ``amp_model.module`` is the plain model.

    Args:
      module: the wrapped model.
      policy: the :class:`Policy`.
      rules: the compiled overrides (built by :func:`apply`).
      strict: whether unmatched string patterns raise.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import amp, nn
      >>> layer = nn.Linear(3, 2, key=torsh.random.key(0))
      >>> model = amp.apply(layer, "params=float32,compute=bfloat16,output=float32")
      >>> [k for k in model.state_dict()], model(jnp.ones((1, 3))).dtype
      (['weight', 'bias'], dtype('float32'))
    """

    module: Module = field(inline=True)
    policy: Policy = static(default=_FLOAT32)
    rules: tuple = static(default=())
    strict: bool = static(default=True)

    def __init__(self, module: Module, policy: Policy, rules: tuple = (), strict: bool = True) -> None:
        self.module = module
        self.policy = policy
        self.rules = rules
        self.strict = strict

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with _active(_Plan(self.policy, self.rules, self.strict, "amp.apply")):
            return self.module(*args, **kwargs)

    def _describe(self) -> str:
        return f"amp {self.policy.compute.name} {self.module._describe()}"

    # The wrapped model's own state-dict rules apply (e.g. a tied output projection's key).
    def state_dict(self) -> dict[str, jax.Array]:
        """The wrapped model's ``state_dict()`` (the same keys as without amp).

        Returns:
          Parameters and buffers by dotted name.

        Example:
          >>> import torsh
          >>> from torsh import amp, nn
          >>> list(amp.apply(nn.Linear(2, 1, key=torsh.random.key(0)), "c=bf16").state_dict())
          ['weight', 'bias']
        """
        return self.module.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> AmpModel:
        """A new :class:`AmpModel` around ``module.load_state_dict(state_dict, strict)``.

        Args:
          state_dict: arrays by dotted name (values are cast to each stored parameter's dtype).
          strict: missing and unexpected keys are errors.

        Returns:
          The new wrapper (same policy).

        Raises:
          StateDictError: keys or shapes that do not fit the model.

        Example:
          >>> import torsh, jax.numpy as jnp
          >>> from torsh import amp, nn
          >>> model = amp.apply(nn.Linear(2, 1, key=torsh.random.key(0)), "c=bf16")
          >>> model.load_state_dict({"weight": jnp.ones((1, 2)), "bias": jnp.zeros(1)}).module.weight.tolist()
          [[1.0, 1.0]]
        """
        return self.replace(module=self.module.load_state_dict(state_dict, strict))


def apply(
    model: Module,
    policy: Policy | str,
    overrides: Mapping[Any, Policy | str] | None = None,
    *,
    keep_float32: Sequence[type] | type | None = NORM_LAYERS,
    strict: bool = True,
) -> AmpModel:
    """``model`` wrapped to run under a mixed-precision policy, without changing its code.

    Every module computes in ``policy.compute`` (its floating inputs and its own floating arrays are
    cast when it is called) unless an override selects it: ``overrides`` maps a glob on the dotted
    module path (``"*norm*"``, ``"blocks.*.attn"``), an ``nn.Module`` subclass, or a tuple of them, to
    a :class:`Policy` (or policy string); a string matches a module whose dotted path or class name it
    globs (``"*Norm*"`` selects every ``LayerNorm``, ``BatchNorm2d``...). The first match wins, then
    ``keep_float32`` (default: every normalisation layer, :data:`NORM_LAYERS`, computes in float32);
    a selected module's sub-modules inherit its compute dtype. The model's output and every selected
    module's output are cast to that policy's ``output`` dtype. Floating parameters are stored in
    ``policy.params`` (float32 by default: master weights, float32 gradients and optimizer states);
    selected modules' parameters in their policy's ``params``. Buffers keep their dtype.

    Args:
      model: an ``nn.Module``.
      policy: an :class:`Policy` or a string such as ``"params=float32,compute=bfloat16,output=float32"``.
      overrides: ``{pattern_or_class: policy}`` per-module policies.
      keep_float32: module classes computed in float32 (``()`` or None: none).
      strict: raise when a string pattern matches no module (a typo); ``False`` allows it.

    Returns:
      An :class:`AmpModel` (``.module`` is the model with its parameters in the params dtypes).

    Raises:
      PolicyError: ``model`` is not a module, a bad policy string, override key or value, or (strict) a
        pattern matching no module.
      DTypeError: an unknown or non-floating dtype.

    Example:
      >>> import torsh, jax, jax.numpy as jnp
      >>> from torsh import amp, nn
      >>> torsh.manual_seed(0)
      >>> model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
      >>> fast = amp.apply(model, amp.Policy(compute="bfloat16"), {"2": amp.Policy(compute="float32")})
      >>> jaxpr = jax.make_jaxpr(fast)(jnp.ones((3, 4)))
      >>> [str(e.invars[0].aval.dtype) for e in jaxpr.eqns if e.primitive.name == "dot_general"]
      ['bfloat16', 'float32']
      >>> fast(jnp.ones((3, 4))).dtype, fast.module[0].weight.dtype
      (dtype('float32'), dtype('float32'))
    """
    what = "amp.apply"
    if isinstance(model, AmpModel):
        raise PolicyError(f"{what}: the model already runs under {model.policy!r}; apply to model.module")
    if not isinstance(model, Module):
        raise PolicyError(f"{what}: expected an nn.Module, got {type(model).__name__}")
    p = Policy.coerce(policy, what)
    rules = _rules(overrides, keep_float32, what)
    if strict:
        _check_patterns(rules, model, what)
    resolved: dict[str, np.dtype] = {}
    for path, module, parent in _walk_tree(model):
        params = p.params if parent is None else resolved[parent]
        for rule in rules:
            if rule.matches(path, module):
                params = rule.policy.params
                break
        resolved[path] = params

    def store(path: str, module: Module) -> Module:
        dtype = resolved[path]
        changes = {}
        for leaf in _walk.direct_leaves(module):
            if not leaf.is_buffer and _is_float_array(leaf.value) and leaf.value.dtype != dtype:
                if leaf.field in changes:
                    continue
                value = getattr(module, leaf.field)
                changes[leaf.field] = (
                    jnp.asarray(value).astype(dtype)
                    if _is_float_array(value)
                    else jax.tree.map(
                        lambda x: jnp.asarray(x).astype(dtype) if _is_float_array(x) else x,
                        value,
                        is_leaf=lambda x: isinstance(x, Module),
                    )
                )
        return module.replace(**changes) if changes else module

    stored = _walk.map_modules(model, store)
    return AmpModel(stored, p, rules, bool(strict))
