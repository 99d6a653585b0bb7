"""Where a process fits in a job: ``resolve_config`` from arguments and the variables of torsh's
launcher, JAX and torchrun; ``init`` in a single process and after JAX has started. (The real
2-process join is in test_distributed_multiprocess.py.)"""

from __future__ import annotations

import pytest

import torsh
from torsh import distributed as dist
from torsh.errors import ConfigError, DistributedError


def test_nothing_set_is_a_single_process():
    config = dist.resolve_config(environ={})
    assert (config.coordinator_address, config.num_processes, config.process_id) == (None, 1, 0)
    assert not config.is_multi_process and config.local_device_ids is None


def test_torsh_variables():
    env = {
        "TORSH_COORDINATOR_ADDRESS": "127.0.0.1:1234",
        "TORSH_NUM_PROCESSES": "4",
        "TORSH_PROCESS_ID": "3",
        "TORSH_LOCAL_DEVICE_IDS": "6, 7",
    }
    config = dist.resolve_config(environ=env)
    assert (config.coordinator_address, config.num_processes, config.process_id) == ("127.0.0.1:1234", 4, 3)
    assert config.local_device_ids == (6, 7) and config.is_multi_process
    assert dict(config.sources)["num_processes"] == "torsh (TORSH_NUM_PROCESSES)"


def test_torchrun_variables():
    env = {
        "MASTER_ADDR": "10.1.2.3",
        "MASTER_PORT": "29500",
        "WORLD_SIZE": "8",
        "RANK": "5",
        "LOCAL_RANK": "1",
        "LOCAL_WORLD_SIZE": "4",
    }
    config = dist.resolve_config(environ=env)
    assert (config.coordinator_address, config.num_processes, config.process_id) == ("10.1.2.3:29500", 8, 5)
    assert config.local_device_ids == (1,)  # one accelerator per process
    # One process per node sees all its devices.
    assert dist.resolve_config(environ={**env, "LOCAL_WORLD_SIZE": "1"}).local_device_ids is None


def test_jax_variables():
    env = {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}
    config = dist.resolve_config(environ=env)
    assert (config.coordinator_address, config.num_processes, config.process_id) == ("h:1", 2, 1)


def test_precedence_arguments_then_torsh_then_jax_then_torchrun():
    env = {
        "TORSH_NUM_PROCESSES": "4",
        "JAX_NUM_PROCESSES": "3",
        "WORLD_SIZE": "2",
        "RANK": "1",
        "TORSH_COORDINATOR_ADDRESS": "a:1",
        "MASTER_ADDR": "b",
        "MASTER_PORT": "2",
    }
    config = dist.resolve_config(environ=env)
    assert (config.num_processes, config.process_id, config.coordinator_address) == (4, 1, "a:1")
    assert dict(config.sources)["process_id"] == "torchrun (RANK)"
    config = dist.resolve_config("c:3", 6, 5, local_device_ids=[0], environ=env)
    assert (config.coordinator_address, config.num_processes, config.process_id) == ("c:3", 6, 5)
    assert dict(config.sources)["coordinator_address"] == "argument" and config.local_device_ids == (0,)


def test_one_process_needs_no_coordinator():
    assert dist.resolve_config(num_processes=1, environ={}).num_processes == 1
    assert dist.resolve_config(environ={"WORLD_SIZE": "1", "RANK": "0"}).is_multi_process is False


@pytest.mark.parametrize(
    ("env", "kwargs", "fragments"),
    [
        ({"TORSH_PROCESS_ID": "1"}, {}, ["incomplete", "missing ['num_processes']", "TORSH_PROCESS_ID"]),
        ({"TORSH_COORDINATOR_ADDRESS": "h:1"}, {}, ["missing ['num_processes', 'process_id']"]),
        ({"WORLD_SIZE": "2"}, {}, ["missing ['process_id']", "torchrun (WORLD_SIZE)"]),
        ({"WORLD_SIZE": "2", "RANK": "0"}, {}, ["need a coordinator address", "MASTER_ADDR"]),
        ({"WORLD_SIZE": "two"}, {}, ["WORLD_SIZE='two' is not an integer"]),
        ({"MASTER_ADDR": "h", "WORLD_SIZE": "2", "RANK": "0"}, {}, ["MASTER_PORT is not"]),
        ({}, {"num_processes": 2, "process_id": 2, "coordinator_address": "h:1"}, ["in [0, 2)", "got 2"]),
        ({}, {"num_processes": 0, "process_id": 0}, ["positive int"]),
        (
            {},
            {"num_processes": 2, "process_id": 0, "coordinator_address": "nohost"},
            ["host:port", "'nohost'"],
        ),
        ({"TORSH_LOCAL_DEVICE_IDS": "0,x"}, {}, ["comma-separated integers"]),
    ],
)
def test_bad_configurations_say_what_and_where(env, kwargs, fragments):
    with pytest.raises(ConfigError) as info:
        dist.resolve_config(**kwargs, environ=env)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_init_alone_is_a_single_process(monkeypatch):
    for var in (
        "TORSH_NUM_PROCESSES",
        "TORSH_PROCESS_ID",
        "TORSH_COORDINATOR_ADDRESS",
        "WORLD_SIZE",
        "RANK",
        "MASTER_ADDR",
        "JAX_COORDINATOR_ADDRESS",
        "JAX_NUM_PROCESSES",
        "JAX_PROCESS_ID",
    ):
        monkeypatch.delenv(var, raising=False)
    info = dist.init(auto_detect=False)
    assert (info.process_index, info.process_count, info.coordinator_address) == (0, 1, None)
    assert info.is_main and dist.is_main_process() and dist.process_count() == 1 and not dist.is_initialized()
    dist.barrier()  # a no-op alone
    dist.shutdown()  # a no-op when init did not connect


def test_init_after_jax_started_is_refused():
    torsh.zeros(1)  # JAX has started in this process
    with pytest.raises(DistributedError, match="already started"):
        dist.init("127.0.0.1:1", 2, 0)
