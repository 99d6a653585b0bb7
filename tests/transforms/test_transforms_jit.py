"""torsh.jit: static and donated arguments by name or position, error cases, and explain()."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh.errors import ConfigError
from torsh.tree import Struct, static


def test_static_by_name_and_position_retraces_only_on_a_new_value():
    traces = []

    def make():  # a new function each time: JAX shares compiled code between jits of one function
        def power(x, n, offset=0.0):
            traces.append(n)
            return x**n + offset

        return power

    for spec in ("n", 1, -2, ("n",)):
        traces.clear()
        f = torsh.jit(make(), static=spec)
        assert float(f(jnp.float32(2.0), 3)) == 8.0
        assert float(f(jnp.float32(3.0), 3)) == 27.0  # same static value: no retrace
        assert float(f(jnp.float32(2.0), n=2)) == 4.0  # by keyword works whichever way it was declared
        assert float(f(jnp.float32(2.0), n=2, offset=1.0)) == 5.0
        assert float(f(jnp.float32(2.0), 4)) == 16.0
        assert traces == [3, 2, 2, 4], spec  # JAX also keys its cache on which keywords were passed
    # A static argument must be hashable; a non-static Python int is traced (one compilation for all).
    traces.clear()
    g = torsh.jit(make())
    g(jnp.float32(2.0), 3)
    g(jnp.float32(2.0), 4)
    assert len(traces) == 1


def test_static_keyword_only_and_positional_only_parameters():
    def kw_only(x, *, mode):
        return x * {"double": 2, "triple": 3}[mode]

    f = torsh.jit(kw_only, static="mode")
    assert float(f(jnp.float32(1.0), mode="triple")) == 3.0

    def pos_only(x, n, /):
        return x * n

    g = torsh.jit(pos_only, static="n")
    assert float(g(jnp.float32(2.0), 5)) == 10.0
    assert float(torsh.jit(pos_only, static=1)(jnp.float32(2.0), 5)) == 10.0


def test_decorator_forms():
    @torsh.jit
    def plain(x):
        return x + 1

    @torsh.jit(static="k")
    def configured(x, k):
        return x * k

    assert float(plain(jnp.float32(1.0))) == 2.0 and float(configured(jnp.float32(2.0), k=3)) == 6.0
    assert hasattr(plain, "lower") and hasattr(plain, "explain")


def test_structs_with_static_fields_go_through_jit():
    class Scale(Struct):
        w: jax.Array
        mode: str = static("mul")

        def __call__(self, x):
            return self.w * x if self.mode == "mul" else self.w + x

    f = torsh.jit(lambda m, x: m(x))
    assert float(f(Scale(jnp.float32(2.0)), 3.0)) == 6.0
    assert float(f(Scale(jnp.float32(2.0), mode="add"), 3.0)) == 5.0


@pytest.mark.parametrize("donate", ["params", 0, -3, ("params", "state")])
def test_donated_arguments_are_deleted_after_the_call(donate):
    def step(params, state, x):
        new_params = jax.tree_util.tree_map(lambda p: p - 0.1 * x.sum(), params)
        return new_params, state + 1

    f = torsh.jit(step, donate=donate)
    params = {"w": jnp.ones((4, 4)), "b": jnp.zeros(4)}
    state, x = jnp.zeros(4), jnp.ones(4)
    new_params, new_state = f(params, state, x)
    np.testing.assert_allclose(new_params["w"], 1 - 0.4)
    assert params["w"].is_deleted() and params["b"].is_deleted()  # XLA on CPU reuses donated buffers
    assert state.is_deleted() == (isinstance(donate, tuple) and "state" in donate)
    assert not x.is_deleted()


def test_donation_by_keyword_call_and_aliasing_in_the_lowered_module():
    f = torsh.jit(lambda a, b: a + b, donate="a")
    a, b = jnp.ones(8), jnp.ones(8)
    f(b=b, a=a)
    assert a.is_deleted() and not b.is_deleted()
    text = f.lower(jnp.ones(8), jnp.ones(8)).as_text()
    header = text[text.index("func.func public @main") :].splitlines()[0]
    first, second = header.split("%arg1")
    assert "tf.aliasing_output = 0" in first and "aliasing_output" not in second


def test_bad_static_and_donate_specifications():
    def f(x, n, *rest, flag=False, **extra):
        return x

    with pytest.raises(
        ConfigError,
        match=r"jit\(static=...\): .*no parameter named 'm'.*\['x', 'n', 'rest', 'flag', 'extra'\]",
    ):
        torsh.jit(f, static="m")
    with pytest.raises(ConfigError, match="no parameter named 'rest'"):
        torsh.jit(f, static="rest")  # *args cannot be static by name
    with pytest.raises(ConfigError, match=r"jit\(donate=...\): .*no parameter named 'y'"):
        torsh.jit(f, donate="y")
    with pytest.raises(ConfigError, match="names or positions, got True"):
        torsh.jit(f, static=True)
    with pytest.raises(ConfigError, match="names or positions, got 1.5"):
        torsh.jit(f, donate=[1.5])
    with pytest.raises(ConfigError, match="position 3 is out of range"):
        torsh.jit(lambda x, y: x, static=3)
    with pytest.raises(ConfigError, match=r"cannot be both static and donated"):
        torsh.jit(f, static="n", donate=1)
    with pytest.raises(ConfigError, match=r"cannot be both static and donated"):
        torsh.jit(f, static=0, donate="x")
    with pytest.raises(ConfigError, match="expected a function, got int"):
        torsh.jit(3)


def test_jit_forwards_shardings_and_options():
    dev = torsh.device("cpu:0")
    sharding = jax.sharding.SingleDeviceSharding(dev)
    f = torsh.jit(lambda x: x * 2, out_shardings=sharding, in_shardings=sharding, keep_unused=True)
    out = f(jnp.ones(3))
    assert out.sharding == sharding and out.tolist() == [2.0, 2.0, 2.0]


# -- explain ---------------------------------------------------------------------------------------


def test_explain_reports_the_exact_matmul_cost():
    m, k, n = 8, 16, 32
    f = torsh.jit(lambda a, b: a @ b)
    report = f.explain(jnp.ones((m, k)), jnp.ones((k, n)))
    assert isinstance(report, torsh.Explanation)
    assert report.flops == 2 * m * n * k  # one multiply and one add per term
    assert report.transcendentals == 0
    assert report.bytes_accessed == 4 * (m * k + k * n + m * n)  # read both inputs once, write the output
    assert report.argument_bytes == 4 * (m * k + k * n) and report.output_bytes == 4 * m * n
    assert report.peak_memory_bytes >= report.argument_bytes + report.output_bytes > 0
    assert "dot(" in report.hlo and "f32[8,32]" in report.hlo
    text = str(report)
    assert "FLOPs:            8,192" in text and "peak memory" in text and "HLO:" in text


def test_explain_of_plain_functions_abstract_arguments_and_static_args():
    spec = jax.ShapeDtypeStruct((4, 6), jnp.float32)
    report = torsh.explain(jnp.tanh, spec)  # a plain function is jitted first; nothing is allocated
    assert report.flops == 0 and report.transcendentals == 24
    assert report.bytes_accessed == 2 * 24 * 4 and report.peak_memory_bytes > 0

    def chain(x, reps):
        for _ in range(reps):
            x = x @ x
        return x

    g = torsh.jit(chain, static="reps")
    assert g.explain(jax.ShapeDtypeStruct((4, 4), jnp.float32), reps=1).flops == 2 * 4**3
    assert g.explain(jax.ShapeDtypeStruct((4, 4), jnp.float32), reps=3).flops == 3 * 2 * 4**3


def test_explain_sees_donation_as_aliasing():
    f = torsh.jit(lambda w, g: w - 0.1 * g, donate="w")
    report = f.explain(jnp.ones(256), jnp.ones(256))
    assert report.alias_bytes == 256 * 4
