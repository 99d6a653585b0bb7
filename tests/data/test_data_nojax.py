"""The loader's worker path does not import JAX (torsh.data._nojax and the lazy package imports)."""

from __future__ import annotations

import subprocess
import sys

import _data_testlib as lib
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh.data import ArrayDataset, DataLoader, _nojax, default_collate


def test_namespace_is_torsh_tree_namespace():
    assert _nojax.NAMESPACE == torsh.tree.NAMESPACE


def test_array_checks_agree_with_isinstance():
    import jax

    for x in (np.zeros(2), jnp.zeros(2), [1.0], 3.0, np.float32(1)):
        assert _nojax.is_jax_array(x) == isinstance(x, jax.Array)
        assert _nojax.is_array(x) == isinstance(x, (np.ndarray, jax.Array))


def test_default_float_dtype_follows_torsh(monkeypatch):
    from torsh import _dtype

    assert _nojax.default_float_dtype() == np.float32
    monkeypatch.setattr(_dtype, "_default_float", np.dtype(np.float16))
    assert _nojax.default_float_dtype() == np.float16
    assert default_collate([1.5, 2.5]).dtype == np.float16


@pytest.mark.parametrize("context", ["forkserver", "spawn"])
def test_process_workers_do_not_import_jax(context):
    ds = ArrayDataset(np.zeros((8, 2), np.float32), np.arange(8)).map(lib.heavy_modules_loaded)
    loader = DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context=context)
    flags = np.concatenate([np.asarray(flag) for _, flag in loader])
    assert flags.shape == (8, 4)
    assert not flags.any(), "a worker imported jax, jaxlib, torsh.tree or torsh.nn"


def test_worker_collates_python_floats_to_float32_without_jax():
    ds = ArrayDataset(np.zeros((4, 2), np.float32), np.arange(4)).map(lib.float_label)
    (_, y), *_ = DataLoader(ds, batch_size=4, num_workers=1)
    assert y.dtype == np.float32 and y.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_main_process_loading_modules_import_no_jax():
    code = (
        "import sys; import torsh.data as d, torsh.data._worker, torsh.data.collate; "
        "d.ArrayDataset; d.default_collate; d.rng; d.get_worker_info; "
        "assert 'jax' not in sys.modules, sorted(m for m in sys.modules if 'jax' in m)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_padded_batches_from_workers_need_no_jax():
    ds = ArrayDataset(np.zeros((5, 2), np.float32), np.arange(5)).map(lib.heavy_modules_loaded)
    batches = list(DataLoader(ds, batch_size=2, num_workers=2, pad_last=True))
    assert [type(b).__name__ for b in batches] == ["MaskedBatch"] * 3
    assert batches[-1].mask.tolist() == [True, False]
    assert not np.concatenate([np.asarray(b.data[1]) for b in batches]).any()
