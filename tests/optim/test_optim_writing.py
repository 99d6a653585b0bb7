"""The public optimizer API: docs/optim.md's "Writing an optimizer" Lion runs as printed, follows
``optim.Lion`` step for step and the published algorithm in float64; the engine's shared duties
(maximize, weight decay styles, param groups, generated state classes, configuration semantics)."""

from __future__ import annotations

import dataclasses
import inspect
import pathlib
import pickle
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _optim_reference import assert_trajectories_close, grad_stream, make_params, torsh_trajectory

from torsh import optim
from torsh.errors import ConfigError, FrozenInstanceError

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "optim.md"
STEPS = 60


@pytest.fixture(scope="module")
def doc_lion() -> type:
    section = DOC.read_text().split("## Writing an optimizer", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {"__name__": "docs_optim_writing"}
    exec(compile(code, str(DOC), "exec", dont_inherit=True), namespace)  # as a reader pastes it
    assert type(namespace["state"]).__name__ == "MyLionState"
    return namespace["MyLion"]


@pytest.fixture(scope="module")
def data() -> tuple[dict, dict]:
    return make_params(), grad_stream(steps=STEPS)


def _lion_paper(params, grads, lr, betas, wd):
    """Lion, Chen et al. (2023) Program 1, float64 numpy; ``betas``/``wd`` per leaf."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    out = {k: np.empty((STEPS, *x.shape)) for k, x in p.items()}
    for t in range(STEPS):
        for k in p:
            (b1, b2), g = betas[k], grads[k][t].astype(np.float64)
            update = np.sign(b1 * m[k] + (1 - b1) * g)
            p[k] = p[k] - lr * (update + wd[k] * p[k])
            m[k] = b2 * m[k] + (1 - b2) * g
            out[k][t] = p[k]
    return out


def _configs(cls: type) -> object:
    return cls(
        1e-3, weight_decay=0.1, param_groups=[optim.ParamGroup("b", weight_decay=0.0, betas=(0.8, 0.95))]
    )


def test_doc_lion_is_optim_lion_step_for_step(doc_lion, data):
    params, grads = data
    ours = torsh_trajectory(_configs(doc_lion), params, grads)
    theirs = torsh_trajectory(_configs(optim.Lion), params, grads)
    for k in theirs:
        np.testing.assert_array_equal(ours[k], theirs[k], err_msg=k)


def test_doc_lion_matches_the_paper_in_float32_and_float64(doc_lion, data):
    params, grads = data
    betas = {"b": (0.8, 0.95), "s": (0.9, 0.99), "w": (0.9, 0.99)}
    wd = {"b": 0.0, "s": 0.1, "w": 0.1}
    expected = _lion_paper(params, grads, 1e-3, betas, wd)
    assert_trajectories_close(torsh_trajectory(_configs(doc_lion), params, grads), expected)
    with jax.enable_x64(True):
        p64 = {k: v.astype(np.float64) for k, v in params.items()}
        g64 = {k: v.astype(np.float64) for k, v in grads.items()}
        ours = torsh_trajectory(_configs(doc_lion), p64, g64)
    assert all(v.dtype == np.float64 for v in ours.values())
    assert_trajectories_close(ours, expected, rtol=1e-12, atol_scale=1e-12)


def test_doc_lion_gets_the_engine_for_free(doc_lion):
    opt = doc_lion(0.1, maximize=True)
    assert opt == doc_lion(lr=0.1, maximize=True) and hash(opt) == hash(doc_lion(lr=0.1, maximize=True))
    with pytest.raises(ConfigError, match="MyLion: lr must be a finite number >= 0, got -1"):
        doc_lion(lr=-1)
    with pytest.raises(ConfigError, match=r"MyLion param group 'x': betas\[1\] must be in \[0, 1\)"):
        doc_lion(param_groups=[optim.ParamGroup("w", betas=(0.9, 1.0), name="x")])
    params = {"w": jnp.array([1.0, 2.0], jnp.bfloat16), "z": jnp.array([1 + 1j], jnp.complex64)}
    state = opt.init(params)
    grads = {"w": jnp.array([1.0, -1.0], jnp.bfloat16), "z": jnp.array([1 - 2j], jnp.complex64)}
    new, state = jax.jit(opt.step)(params, grads, state)
    # maximize: steps along +sign(grad); complex: real and imaginary parts separately
    assert new["w"].dtype == jnp.bfloat16 and new["w"].tolist() == [1.1015625, 1.8984375]
    np.testing.assert_allclose(np.asarray(new["z"]), [1.1 + 0.9j], rtol=1e-6)
    assert state.exp_avg["w"].dtype == jnp.bfloat16 and isinstance(state, doc_lion.State)
    state = optim.set_lr(state, 0.0)
    same, _ = opt.step(new, grads, state)
    assert same["w"].tolist() == new["w"].tolist()


# -- the engine's shared duties, for every optimizer --------------------------------------------


TORCH_ONLY = {"foreach", "capturable", "differentiable", "fused"}  # kernel choices XLA makes itself


def test_positional_and_keyword_construction_follow_pytorch():
    import torch

    assert optim.Adam(1e-2, (0.8, 0.9)) == optim.Adam(lr=1e-2, betas=(0.8, 0.9))
    for name in ("SGD", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "Adagrad", "RMSprop", "Adadelta"):
        ours = inspect.signature(getattr(optim, name))
        theirs = inspect.signature(getattr(torch.optim, name))
        positional = [
            p.name
            for p in theirs.parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in TORCH_ONLY | {"params", "maximize"}
        ]
        assert [p.name for p in ours.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD] == positional
        for p in ours.parameters.values():
            if p.name in theirs.parameters and p.name != "lr":
                assert p.default == theirs.parameters[p.name].default, (name, p.name)
    with pytest.raises(TypeError):
        optim.Adam(1e-3, (0.9, 0.999), 1e-8, 0.0, False, False)  # maximize is keyword-only


def test_generated_states_keep_their_public_names_and_fields():
    expected = {
        optim.SGD: ["momentum_buffer"],
        optim.Adam: ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
        optim.NAdam: ["exp_avg", "exp_avg_sq", "mu_product"],
        optim.Adamax: ["exp_avg", "exp_inf"],
        optim.Adagrad: ["sum"],
        optim.RMSprop: ["square_avg", "momentum_buffer", "grad_avg"],
        optim.Adadelta: ["square_avg", "acc_delta"],
        optim.LAMB: ["exp_avg", "exp_avg_sq"],
        optim.Lion: ["exp_avg"],
        optim.RAdam: ["exp_avg", "exp_avg_sq"],
    }
    for cls, slots in expected.items():
        state_cls = cls.State
        assert state_cls is getattr(optim, f"{cls.__name__}State")
        assert state_cls.__module__ == cls.__module__ and state_cls.__qualname__ == f"{cls.__name__}State"
        names = [f.name for f in dataclasses.fields(state_cls)]
        assert names == ["step", "lr", *slots, "hyperparams", "lr_scale"]
    assert optim.AdamW.State is optim.AdamState
    state = optim.RMSprop(momentum=0.9).init({"w": jnp.ones(2)})
    assert pickle.loads(pickle.dumps(state)).momentum_buffer["w"].tolist() == [0.0, 0.0]


def test_weight_decay_styles_are_applied_by_the_engine():
    p, g = {"w": jnp.array([2.0])}, {"w": jnp.array([0.0])}
    # L2 (coupled): SGD's step is -lr * wd * p; decoupled (AdamW, Lion): p * (1 - lr * wd) then the rule
    sgd, _ = optim.SGD(0.1, weight_decay=0.5).step(p, g, optim.SGD(0.1, weight_decay=0.5).init(p))
    assert sgd["w"].tolist() == pytest.approx([2.0 - 0.1 * 0.5 * 2.0])
    adam_l2 = optim.Adam(0.1, weight_decay=0.5)
    adam_dec = optim.Adam(0.1, weight_decay=0.5, decoupled_weight_decay=True)
    l2, _ = adam_l2.step(p, g, adam_l2.init(p))
    dec, _ = adam_dec.step(p, g, adam_dec.init(p))
    assert l2["w"].tolist() == pytest.approx([1.9], rel=1e-6)  # Adam of the gradient wd * p: a full step
    assert dec["w"].tolist() == pytest.approx([2.0 * (1 - 0.05)], rel=1e-6)  # zero gradient: decay only
    aw = optim.AdamW(0.1, weight_decay=0.5)
    assert aw.step(p, g, aw.init(p))[0]["w"].tolist() == dec["w"].tolist()
    with pytest.raises(ConfigError, match="AdamW: decoupled_weight_decay is always True"):
        optim.AdamW(decoupled_weight_decay=False)


def test_configurations_are_frozen_values():
    a = optim.SGD(0.1, momentum=0.9, param_groups=[{"params": "b", "lr": 0.01}])
    b = optim.SGD(lr=0.1, momentum=0.9, param_groups=(optim.ParamGroup("b", lr=0.01),))
    assert a == b and hash(a) == hash(b) and a != a.replace(momentum=0.8)
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(FrozenInstanceError):
        a.momentum = 0.5
    with pytest.raises(ConfigError, match="SGD: momentum must be a finite number >= 0, got -1"):
        a.replace(momentum=-1)
    assert jax.tree.leaves(a) == [] and jax.tree.unflatten(jax.tree.structure(a), []) == a
    # passed through jit as an ordinary argument (a pytree with no leaves) or as a static one
    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    f = jax.jit(lambda opt, p: opt.init(p).lr["group1"])
    assert float(f(a, params)) == pytest.approx(0.01)
    assert "SGD(lr=0.1, momentum=0.9, dampening=0.0" in repr(a) and "param_groups=(ParamGroup('b'" in repr(a)


def test_a_rule_without_direction_says_so():
    class Nothing(optim.Optimizer):
        """No rule."""

    with pytest.raises(NotImplementedError, match="Nothing must define direction"):
        Nothing().step({"w": jnp.ones(1)}, {"w": jnp.ones(1)}, Nothing().init({"w": jnp.ones(1)}))
    with pytest.raises(TypeError, match="static configuration"):

        class Bad(optim.Optimizer):
            w: jax.Array = dataclasses.field(default=None)
