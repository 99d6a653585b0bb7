"""amp.Policy: construction, jmp-style strings, casts, and bad input."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from torsh import amp
from torsh.errors import DTypeError, TorshError

FLOATS = ["float16", "bfloat16", "float32", "float64"]


def test_defaults_and_names():
    p = amp.Policy()
    assert (p.params, p.compute, p.output) == (jnp.dtype("float32"),) * 3
    p = amp.Policy(compute="bf16", output=torch.float16)
    assert p.compute == jnp.bfloat16 and p.output == jnp.float16 and p.params == jnp.float32
    assert amp.Policy(compute=jnp.bfloat16) == amp.Policy(compute="bfloat16")
    assert hash(amp.Policy(compute="half")) == hash(amp.Policy(compute="float16"))
    assert repr(p) == "Policy(params=float32, compute=bfloat16, output=float16)"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("params=float32,compute=bfloat16,output=float32", ("float32", "bfloat16", "float32")),
        ("p=f32,c=bf16,o=f32", ("float32", "bfloat16", "float32")),
        (" compute = float16 ", ("float32", "float16", "float32")),
        ("c=half,o=bf16", ("float32", "float16", "bfloat16")),
        ("bfloat16", ("bfloat16", "bfloat16", "bfloat16")),
        ("full", ("float32", "float32", "float32")),
        ("P=F16,C=F16,O=F32", ("float16", "float16", "float32")),
    ],
)
def test_parse(spec, expected):
    p = amp.Policy.parse(spec)
    assert (p.params.name, p.compute.name, p.output.name) == expected


@given(st.sampled_from(FLOATS), st.sampled_from(FLOATS), st.sampled_from(FLOATS))
def test_str_parses_back(params, compute, output):
    p = amp.Policy(params, compute, output)
    assert amp.Policy.parse(str(p)) == p
    assert amp.Policy.coerce(str(p)) is not p and amp.Policy.coerce(p) is p


def test_casts_only_floating_leaves():
    p = amp.Policy(params="bf16", compute="f16", output="f32")
    tree = {"w": jnp.ones(2), "i": jnp.arange(2), "n": None, "s": 1.5}
    for cast, dtype in [(p.cast_to_param, "bfloat16"), (p.cast_to_compute, "float16")]:
        out = cast(tree)
        assert out["w"].dtype == dtype and out["i"].dtype == jnp.int32
        assert out["n"] is None and out["s"] == 1.5
    assert p.cast_to_output(jnp.ones(2, jnp.float16)).dtype == jnp.float32


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("c=bfloat61", DTypeError, r"unknown dtype 'bfloat61'; expected one of float16, bfloat16"),
        ("compute=int8", DTypeError, r"compute: expected a floating dtype .* got int8"),
        ("complex64", DTypeError, r"expected a floating dtype .* got complex64"),
        ("precision=bf16", amp.PolicyError, r"unknown key 'precision'; keys are params \(p\)"),
        ("c=bf16,c=f32", amp.PolicyError, r"compute is given twice"),
        ("c=bf16,f32", amp.PolicyError, r"expected key=dtype parts separated by commas, got 'f32'"),
        ("", DTypeError, r"unknown dtype ''"),
    ],
)
def test_parse_errors(spec, error, message):
    with pytest.raises(error, match=message) as info:
        amp.Policy.parse(spec)
    assert isinstance(info.value, TorshError)


def test_constructor_errors():
    with pytest.raises(
        DTypeError, match=r"amp.Policy\(compute=...\): expected a floating dtype .* got int32"
    ):
        amp.Policy(compute=jnp.int32)
    with pytest.raises(DTypeError, match=r"amp.Policy\(params=...\): unknown dtype 'fp32'"):
        amp.Policy(params="fp32")
    with pytest.raises(DTypeError, match=r"output=...\): expected a floating dtype .* got bool"):
        amp.Policy(output=bool)
    with pytest.raises(amp.PolicyError, match="expected a string, got int 16"):
        amp.Policy.parse(16)
    with pytest.raises(amp.PolicyError, match="expected an amp.Policy or a policy string"):
        amp.Policy.coerce(None)
