"""Device discovery and selection: parsing, availability, missing plugins (simulated), the default
device, TORSH_DEVICE and set_cpu_device_count (in a fresh subprocess), to_device, synchronize."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh.backends import _devices
from torsh.errors import BackendUnavailableError, ConfigError, DeviceError


@pytest.fixture(autouse=True)
def restore_default_device(monkeypatch):
    monkeypatch.delenv("TORSH_DEVICE", raising=False)
    yield
    _devices._default = None
    jax.config.update("jax_default_device", None)


class FakeDevice:
    """Stands in for an accelerator device when simulating an installed plugin."""

    def __init__(self, platform, id):
        self.platform, self.id, self.device_kind = platform, id, f"Fake {platform.upper()}"

    def __repr__(self):
        return f"FakeDevice({self.platform}:{self.id})"


def fake_jax_devices(monkeypatch, present: dict[str, int]):
    real = jax.devices

    def devices(backend=None):
        if backend in present:
            return [FakeDevice(backend, i) for i in range(present[backend])]
        if backend in ("cuda", "gpu", "METAL", "metal"):
            raise RuntimeError(f"Unknown backend {backend}")
        return real(backend)

    monkeypatch.setattr(_devices.jax, "devices", devices)


# -- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["cpu", "cpu:0", "CPU:0", " cpu : 0 ", 0])
def test_device_parsing_of_cpu_names(spec):
    assert torsh.device(spec) == jax.devices("cpu")[0]


def test_device_passthrough_none_and_platform_lists():
    dev = jax.devices()[0]
    assert torsh.device(dev) is dev
    assert torsh.device(None) == torsh.default_device() == dev
    assert torsh.devices() == jax.devices() and torsh.devices("cpu") == jax.devices("cpu")
    assert torsh.device_count() == jax.device_count() and torsh.device_count("CPU") == len(jax.devices("cpu"))


@pytest.mark.parametrize(
    "spec, fragments",
    [
        ("tpu:0", ["unknown platform 'tpu'", "['cpu', 'cuda', 'metal']"]),
        ("cpu0", ["malformed device 'cpu0'", "'platform:index'"]),
        ("cpu:-1", ["malformed device"]),
        ("cpu:x", ["malformed device"]),
        ("", ["malformed device"]),
        ("cpu:99", ["device 'cpu:99': index 99 out of range; cpu has 1 device(s)"]),
        (99, ["index 99 out of range"]),
        (-1, ["index -1 out of range"]),
        (True, ["expected a device name, index or jax.Device, got bool"]),
        (1.5, ["got float 1.5"]),
    ],
)
def test_bad_device_specs_raise_device_error(spec, fragments):
    with pytest.raises(DeviceError) as info:
        torsh.device(spec)
    assert not isinstance(info.value, BackendUnavailableError)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_unknown_platform_in_devices():
    with pytest.raises(DeviceError, match="unknown platform 'rocm'"):
        torsh.devices("rocm")


# -- CUDA / Metal absent (as here) and present (simulated) -----------------------------------------


@pytest.mark.parametrize(
    "spec, platform, command",
    [
        ("cuda", "cuda", 'pip install "torsh[cuda]"'),
        ("gpu:0", "cuda", 'pip install "torsh[cuda]"'),
        ("cuda:1", "cuda", 'pip install "torsh[cuda]"'),
        ("metal:0", "metal", 'pip install "torsh[metal]"'),
    ],
)
def test_missing_plugins_raise_backend_unavailable_naming_the_install_command(
    monkeypatch, spec, platform, command
):
    monkeypatch.setattr(_devices, "_plugin_installed", lambda name: False)
    with pytest.raises(BackendUnavailableError) as info:
        torsh.device(spec)
    message = str(info.value)
    assert message.startswith(f"{platform} is not available") and command in message
    assert isinstance(info.value, DeviceError) and isinstance(info.value, RuntimeError)
    with pytest.raises(BackendUnavailableError, match="install"):
        torsh.devices(platform)


def test_plugin_installed_but_no_device_says_so(monkeypatch):
    monkeypatch.setattr(_devices, "_plugin_installed", lambda name: True)
    fake_jax_devices(monkeypatch, {})
    with pytest.raises(
        BackendUnavailableError, match="plugin is installed but no cuda device was found.*Unknown backend"
    ):
        torsh.device("cuda")


def test_simulated_cuda_devices_are_found_by_every_alias(monkeypatch):
    fake_jax_devices(monkeypatch, {"cuda": 2})
    assert (
        torsh.device("cuda:1").id == 1
        and torsh.device("gpu").id == 0
        and torsh.device("GPU:1").platform == "cuda"
    )
    assert torsh.device_count("cuda") == 2
    with pytest.raises(DeviceError, match="index 2 out of range; cuda has 2 device"):
        torsh.device("cuda:2")
    status = torsh.backends.available()["cuda"]
    assert status.available and status.device_count == 2 and status.reason == "Fake CUDA"
    assert str(status) == "cuda: available (2 device(s)); Fake CUDA"
    fake_jax_devices(monkeypatch, {"gpu": 1})  # older plugins report the platform as "gpu"
    assert torsh.device("cuda").platform == "gpu"


def test_available_reports_every_platform_with_a_reason(monkeypatch):
    monkeypatch.setattr(_devices, "_plugin_installed", lambda name: False)
    status = torsh.backends.available()
    assert list(status) == ["cpu", "cuda", "metal"]
    assert status["cpu"].available and status["cpu"].device_count == jax.device_count("cpu")
    for name in ("cuda", "metal"):
        assert not status[name].available and status[name].device_count == 0
        assert f'pip install "torsh[{name}]"' in status[name].reason
        assert str(status[name]).startswith(f"{name}: unavailable;")
    assert isinstance(status["cpu"], torsh.backends.BackendStatus)


def test_plugin_detection_looks_for_the_plugin_modules(monkeypatch):
    from torsh.backends import _platforms

    assert _devices._plugin_installed("cpu") is False  # nothing to look for
    monkeypatch.setitem(
        _platforms.PLATFORMS,
        "cuda",
        _platforms.Platform("cuda", ("cuda",), ("no_such_module_x", "json"), "x"),
    )
    assert _devices._plugin_installed("cuda") is True


# -- default device ---------------------------------------------------------------------------------


def test_set_default_device_moves_new_arrays_and_can_be_reset():
    cpu0 = jax.devices("cpu")[0]
    torsh.set_default_device("cpu:0")
    assert torsh.default_device() == cpu0 and jax.config.jax_default_device == cpu0
    assert torsh.zeros(2).devices() == {cpu0}
    torsh.set_default_device(None)
    assert jax.config.jax_default_device is None and torsh.default_device() == jax.devices()[0]
    with pytest.raises(DeviceError):
        torsh.set_default_device("cpu:5")
    assert jax.config.jax_default_device is None  # a failed call changes nothing


def test_torsh_device_environment_variable(monkeypatch):
    monkeypatch.setenv("TORSH_DEVICE", "cpu:0")
    assert torsh.default_device() == jax.devices("cpu")[0]
    _devices._default = None
    monkeypatch.setenv("TORSH_DEVICE", "bogus:0")
    with pytest.raises(DeviceError, match=r"TORSH_DEVICE='bogus:0' is not usable: unknown platform"):
        torsh.default_device()
    monkeypatch.setenv("TORSH_DEVICE", "cuda:0")
    monkeypatch.setattr(_devices, "_plugin_installed", lambda name: False)
    with pytest.raises(
        BackendUnavailableError, match=r'TORSH_DEVICE=.cuda:0. is not usable.*pip install "torsh\[cuda\]"'
    ):
        torsh.default_device()
    monkeypatch.setenv("TORSH_DEVICE", "")  # empty: JAX's default
    assert torsh.default_device() == jax.devices()[0]


SUBPROCESS = textwrap.dedent(
    """
    import json, sys
    import torsh
    from torsh.errors import ConfigError, DeviceError
    out = {}
    import jax, jax.numpy as jnp           # TORSH_DEVICE=cpu:2 was applied at import (JAX started)
    out["count"] = jax.device_count()
    out["default"] = [torsh.default_device().platform, torsh.default_device().id]  # TORSH_DEVICE=cpu:2
    out["zeros_on"] = sorted(d.id for d in torsh.zeros(2).devices())
    out["jnp_on"] = sorted(d.id for d in jnp.ones(2).devices())
    torsh.set_cpu_device_count(3)          # same count after start: accepted
    for bad in (5, 0, "3"):
        try:
            torsh.set_cpu_device_count(bad)
            out[f"set_{bad}"] = "no error"
        except (DeviceError, ConfigError) as e:
            out[f"set_{bad}"] = f"{type(e).__name__}: {e}"
    moved = torsh.to_device({"w": jnp.ones(2), "n": jnp.int32(3)}, "cpu:1")
    out["moved_to"] = sorted({d.id for leaf in jax.tree_util.tree_leaves(moved) for d in leaf.devices()})
    sharded = torsh.to_device(jnp.ones(3), jax.sharding.SingleDeviceSharding(torsh.device(0)))
    out["sharding_to"] = sorted(d.id for d in sharded.devices())
    json.dump(out, open(sys.argv[1], "w"))
    """
)


def test_cpu_device_count_and_torsh_device_in_a_fresh_process(tmp_path):
    script, out = tmp_path / "devices.py", tmp_path / "out.json"
    script.write_text(SUBPROCESS)
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    # An index above 0 is resolved at import, so the device count must come from the environment.
    env.update(TORSH_DEVICE="cpu:2", JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES="3")
    proc = subprocess.run(
        [sys.executable, str(script), str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["count"] == 3
    assert result["default"] == ["cpu", 2]
    assert result["zeros_on"] == [2] and result["jnp_on"] == [2]
    assert result["set_5"].startswith("DeviceError: set_cpu_device_count(5): JAX has already started with 3")
    assert "--xla_force_host_platform_device_count=5" in result["set_5"]
    assert result["set_0"].startswith("ConfigError") and result["set_3"].startswith("ConfigError")
    assert result["moved_to"] == [1] and result["sharding_to"] == [0]


def test_set_cpu_device_count_after_start_in_this_process():
    n = jax.device_count("cpu")
    torsh.set_cpu_device_count(n)  # unchanged: fine
    with pytest.raises(DeviceError, match=f"already started with {n} CPU device"):
        torsh.set_cpu_device_count(n + 1)
    with pytest.raises(ConfigError, match="positive int, got True"):
        torsh.set_cpu_device_count(True)


# -- moving, waiting, memory -------------------------------------------------------------------------


def test_to_device_moves_every_leaf_of_a_tree_and_keeps_structure():
    from torsh.tree import Struct, static

    class Box(Struct):
        w: jax.Array
        n: jax.Array
        tag: str = static("t")

    tree = {"box": Box(np.ones(2, np.float32), jnp.int32(1)), "list": [jnp.zeros(3), None]}
    moved = torsh.to_device(tree, "cpu")
    assert isinstance(moved["box"], Box) and moved["box"].tag == "t" and moved["list"][1] is None
    assert isinstance(moved["box"].w, jax.Array)  # numpy leaves become device arrays
    assert all(leaf.devices() == {jax.devices("cpu")[0]} for leaf in torsh.tree.leaves(moved))
    with pytest.raises(DeviceError):
        torsh.to_device(tree, "cpu:42")


def test_synchronize_returns_its_argument_and_waits():
    x = jnp.arange(4.0) * 2
    tree = {"x": x}
    assert torsh.synchronize(tree) is tree
    assert torsh.synchronize() is None
    donated = torsh.jit(lambda a: a + 1, donate=0)
    y = jnp.ones(3)
    donated(y)
    assert torsh.synchronize() is None  # deleted (donated) arrays are skipped


def test_memory_stats_is_a_dict_of_ints_or_none():
    stats = torsh.memory_stats("cpu")
    assert stats is None or all(isinstance(v, int) for v in stats.values())
    assert torsh.memory_stats() == stats or torsh.memory_stats() is None


def _import_with_torsh_device(value: str, code: str, extra_env: dict | None = None):
    env = dict(os.environ, TORSH_DEVICE=value, JAX_PLATFORMS="cpu", **(extra_env or {}))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_torsh_device_applies_at_import_to_plain_jax_arrays_without_starting_jax():
    code = (
        "import torsh, jax\n"
        "from jax._src import xla_bridge\n"
        "print(xla_bridge.backends_are_initialized())\n"
        "torsh.set_cpu_device_count(3)\n"  # still possible: the platform was set by name
        "print(jax.numpy.ones(1).devices().pop().platform, torsh.device_count())\n"
    )
    result = _import_with_torsh_device("cpu", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "cpu", "3"]


def test_torsh_device_with_index_places_plain_jax_arrays_there():
    code = "import torsh, jax.numpy as jnp\nprint(jnp.ones(1).devices().pop().id)\n"
    result = _import_with_torsh_device(
        "cpu:1", code, {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


@pytest.mark.parametrize(
    ("value", "message"),
    [("cuda", r'cuda is not available.*pip install "torsh\[cuda\]"'), ("tpu:x", r"expected 'platform'")],
)
def test_unusable_torsh_device_fails_at_import(value, message):
    result = _import_with_torsh_device(value, "import torsh")
    assert result.returncode != 0
    assert re.search(message, result.stderr), result.stderr
