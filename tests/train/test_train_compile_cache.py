"""torsh.compile_cache: the switch, its environment variables, and a real cache hit across processes."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax
import pytest

from torsh import compile_cache
from torsh.errors import ConfigError

SRC = str(pathlib.Path(__file__).parents[2] / "src")

CHILD = """
import json, jax, jax.numpy as jnp
from torsh import compile_cache
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
compile_cache.enable(min_compile_time_secs=0.0)  # default location: TORSH_CACHE_DIR/xla
f = jax.jit(lambda x: jnp.tanh(x @ x.T).sum() * 3.0 + 1.0)
value = float(f(jnp.ones((8, 8))))
hits = events.count("/jax/compilation_cache/cache_hits")
print(json.dumps({"value": value, "hits": hits, "dir": str(compile_cache.cache_dir())}))
"""


@pytest.fixture
def restore_jax_config():
    saved = (
        jax.config.jax_compilation_cache_dir,
        jax.config.jax_enable_compilation_cache,
        jax.config.jax_persistent_cache_min_compile_time_secs,
        compile_cache._enabled_by_torsh,
    )
    yield
    jax.config.update("jax_compilation_cache_dir", saved[0])
    jax.config.update("jax_enable_compilation_cache", saved[1])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", saved[2])
    compile_cache._enabled_by_torsh = saved[3]
    compile_cache._reset_jax_cache()


def test_second_process_loads_the_compiled_program(tmp_path):
    env = {**os.environ, "TORSH_CACHE_DIR": str(tmp_path), "PYTHONPATH": SRC}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    runs = []
    for _ in range(2):
        p = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300
        )
        assert p.returncode == 0, p.stderr
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    assert runs[0]["dir"] == str(tmp_path / "xla")
    assert runs[0]["hits"] == 0 and runs[1]["hits"] >= 1  # cold: compiled and stored; warm: loaded
    assert runs[0]["value"] == runs[1]["value"]
    assert any((tmp_path / "xla").iterdir())


def test_switches(tmp_path, monkeypatch, restore_jax_config):
    monkeypatch.setenv("TORSH_CACHE_DIR", str(tmp_path / "root"))
    assert compile_cache.default_cache_root() == tmp_path / "root"
    monkeypatch.delenv("TORSH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert compile_cache.default_cache_root() == tmp_path / "xdg" / "torsh"

    path = compile_cache.enable(tmp_path / "c", min_compile_time_secs=0.5)
    assert path == tmp_path / "c" and compile_cache.is_enabled() and compile_cache.cache_dir() == path
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.5
    compile_cache.disable()
    assert not compile_cache.is_enabled()

    # TORSH_COMPILE_CACHE=0: enable_default does nothing
    monkeypatch.setenv("TORSH_COMPILE_CACHE", "0")
    assert compile_cache.enable_default() is None and not compile_cache.is_enabled()
    # a cache directory the user set for JAX is kept
    monkeypatch.setenv("TORSH_COMPILE_CACHE", "1")
    compile_cache._enabled_by_torsh = None
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
    jax.config.update("jax_enable_compilation_cache", True)
    assert compile_cache.enable_default() == tmp_path / "mine"

    with pytest.raises(ConfigError, match="min_compile_time_secs"):
        compile_cache.enable(tmp_path, min_compile_time_secs=-1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="TORSH_COMPILE_CACHE=0"):
        compile_cache.enable(blocker / "sub")
