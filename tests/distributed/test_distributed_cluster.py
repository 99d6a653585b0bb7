"""Which environment a process runs in, from the variables SLURM, Open MPI, Kubernetes, JAX and
``torsh launch`` set (no scheduler needed): ``resolve_config``, ``environment_summary``, agreement with
JAX's own detectors, the rules torsh adds, bad configurations named by their variable, and one real
2-process job that joins from SLURM's variables alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _distributed_helpers import HANG_GUARD_SECONDS, HERE, subprocess_env

from torsh import distributed as dist
from torsh.distributed import ClusterConfigError
from torsh.distributed._cluster import K8S_DEFAULT_PORT, detect_cluster, tasks_on_node
from torsh.distributed._process import _check_device_counts
from torsh.distributed.launch import free_port
from torsh.errors import ConfigError, DistributedError


def srun_env(procid: int = 3, nodelist: str = "node[001-002]", per_node: str = "2(x2)", **extra) -> dict:
    """What ``srun`` sets for task ``procid`` of 4 on 2 nodes (2 tasks each)."""
    env = {
        "SLURM_JOB_ID": "123456",
        "SLURM_STEP_ID": "0",
        "SLURM_STEP_NODELIST": nodelist,
        "SLURM_NTASKS": "4",
        "SLURM_PROCID": str(procid),
        "SLURM_LOCALID": str(procid % 2),
        "SLURM_NODEID": str(procid // 2),
        "SLURM_STEP_TASKS_PER_NODE": per_node,
    }
    env.update(extra)
    return env


OMPI4 = {
    "OMPI_MCA_orte_hnp_uri": "1531576320.0;tcp://10.96.0.1,10.148.0.1:34911",
    "OMPI_COMM_WORLD_SIZE": "8",
    "OMPI_COMM_WORLD_RANK": "5",
    "OMPI_COMM_WORLD_LOCAL_RANK": "1",
    "OMPI_COMM_WORLD_LOCAL_SIZE": "4",
}
OMPI5 = {
    "PMIX_SERVER_URI41": "prterun-login1-4242@0.0;tcp4://10.1.2.3:40123",
    "PMIX_NAMESPACE": "prterun-login1-4242@1",
    "OMPI_COMM_WORLD_SIZE": "2",
    "OMPI_COMM_WORLD_RANK": "1",
    "OMPI_COMM_WORLD_LOCAL_RANK": "0",
    "OMPI_COMM_WORLD_LOCAL_SIZE": "1",
}
K8S = {
    "KUBERNETES_SERVICE_HOST": "10.0.0.1",
    "JOB_COMPLETION_INDEX": "2",
    "HOSTNAME": "train-workers-0-2",
    "TORSH_NUM_PROCESSES": "4",
}


def jax_detects(monkeypatch, env: dict) -> tuple:
    """What ``jax.distributed.initialize()`` would auto-detect from ``env`` (JAX's own code)."""
    from jax._src import clusters

    for var in list(__import__("os").environ):
        if var.startswith(("SLURM_", "OMPI_", "PMIX_", "JAX_", "TORSH_")):
            monkeypatch.delenv(var)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    return clusters.ClusterEnv.auto_detect_unset_distributed_params(None, None, None, None, None, None)


# --- SLURM -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nodelist", ["node001", "node001,host2", "node[001-0015],host2", "node[001,007-015],host2"]
)
def test_slurm_agrees_with_jax(monkeypatch, nodelist):
    env = srun_env(nodelist=nodelist)
    address, n, pid, _ = jax_detects(monkeypatch, env)
    config = dist.resolve_config(environ=env)
    assert (config.environment, config.coordinator_address, config.num_processes, config.process_id) == (
        "slurm",
        address,
        n,
        pid,
    )
    assert address.startswith("node001:")
    assert dict(config.sources)["process_id"] == "slurm (SLURM_PROCID)"


def test_slurm_local_devices_one_per_task_only_when_tasks_share_a_node(monkeypatch):
    # 2 tasks per node: task 3 is local rank 1 and gets device 1 (as JAX does).
    assert dist.resolve_config(environ=srun_env()).local_device_ids == (1,)
    # One task per node: JAX would restrict it to device [0]; torsh leaves every device visible.
    one_per_node = srun_env(procid=1, per_node="1(x4)", SLURM_LOCALID="0", SLURM_NODEID="1")
    assert jax_detects(monkeypatch, one_per_node)[3] == [0]
    assert dist.resolve_config(environ=one_per_node).local_device_ids is None
    # The scheduler picked the GPUs (--gpus-per-task): they are all this task's.
    assert dist.resolve_config(environ=srun_env(CUDA_VISIBLE_DEVICES="3")).local_device_ids is None
    assert [tasks_on_node("3,2(x2)", i) for i in range(3)] == [3, 2, 2]


def test_slurm_port_override_and_the_batch_step():
    env = srun_env(JAX_COORDINATOR_PORT="4321")
    assert dist.resolve_config(environ=env).coordinator_address == "node001:4321"
    # `python train.py` in an sbatch script that asked for 4 tasks: one process, not a silent run.
    batch = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}
    with pytest.raises(ClusterConfigError, match=r"SLURM_NTASKS=4 .* `srun python train.py`"):
        dist.resolve_config(environ=batch)
    assert dist.resolve_config(environ={**batch, "SLURM_NTASKS": "1"}).num_processes == 1


# --- Open MPI --------------------------------------------------------------------------------------


def test_open_mpi_4_agrees_with_jax(monkeypatch):
    address, n, pid, local = jax_detects(monkeypatch, OMPI4)
    config = dist.resolve_config(environ=OMPI4)
    assert (config.environment, config.coordinator_address, config.num_processes, config.process_id) == (
        "openmpi",
        address,
        n,
        pid,
    )
    assert address.startswith("10.96.0.1:") and config.local_device_ids == tuple(local) == (1,)


def test_open_mpi_5_which_jax_does_not_detect(monkeypatch):
    assert jax_detects(monkeypatch, OMPI5)[:3] == (None, None, None)
    config = dist.resolve_config(environ=OMPI5)
    host, port = config.coordinator_address.split(":")
    assert (config.environment, host, config.num_processes, config.process_id) == (
        "openmpi",
        "10.1.2.3",
        2,
        1,
    )
    assert 61440 <= int(port) <= 65535 and config.local_device_ids is None  # one process on its node
    # Every rank of the job derives the same port from the shared namespace.
    assert (
        dist.resolve_config(environ={**OMPI5, "OMPI_COMM_WORLD_RANK": "0"}).coordinator_address
        == f"{host}:{port}"
    )
    # No PMIx server address: name what to set.
    no_uri = {k: v for k, v in OMPI5.items() if not k.startswith("PMIX_SERVER")}
    with pytest.raises(ClusterConfigError, match="need a coordinator address.*TORSH_COORDINATOR_ADDRESS"):
        dist.resolve_config(environ=no_uri)
    config = dist.resolve_config(environ={**no_uri, "TORSH_COORDINATOR_ADDRESS": "mpi-head:5000"})
    assert (config.environment, config.coordinator_address) == ("openmpi", "mpi-head:5000")


# --- Kubernetes ------------------------------------------------------------------------------------


def test_kubernetes_indexed_job():
    found = detect_cluster(K8S, fqdn=lambda: "train-workers-0-2.train.default.svc.cluster.local")
    assert (
        found.coordinator_address == f"train-workers-0-0.train.default.svc.cluster.local:{K8S_DEFAULT_PORT}"
    )
    assert found.process_id == 2
    config = dist.resolve_config(environ={**K8S, "TORSH_COORDINATOR_PORT": "1234"})
    assert (config.environment, config.num_processes, config.process_id) == ("kubernetes", 4, 2)
    assert config.coordinator_address.startswith("train-workers-0-0") and config.coordinator_address.endswith(
        ":1234"
    )
    with pytest.raises(ClusterConfigError, match=r"missing \['num_processes'\].*TORSH_NUM_PROCESSES"):
        dist.resolve_config(environ={k: v for k, v in K8S.items() if k != "TORSH_NUM_PROCESSES"})
    # A host name that does not end in this pod's index: no guess, ask for the address.
    with pytest.raises(ClusterConfigError, match="need a coordinator address"):
        dist.resolve_config(environ={**K8S, "HOSTNAME": "some-pod"})


# --- precedence, summaries, bad configurations ----------------------------------------------------


def test_explicit_variables_win_over_the_scheduler():
    launched = {
        **srun_env(),
        "TORSH_COORDINATOR_ADDRESS": "127.0.0.1:5",
        "TORSH_NUM_PROCESSES": "2",
        "TORSH_PROCESS_ID": "1",
    }
    config = dist.resolve_config(environ=launched)  # torsh launch inside a SLURM allocation
    assert (config.environment, config.num_processes, config.process_id) == ("torsh-launch", 2, 1)
    jax_env = {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"}
    assert dist.resolve_config(environ=jax_env).environment == "jax-env"
    assert dist.resolve_config(environ={}).environment == "single-process"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ("single-process", 0, 1, None)),
        (srun_env(procid=2), ("slurm", 2, 4, "node001:")),
        (OMPI4, ("openmpi", 5, 8, "10.96.0.1:")),
        (K8S, ("kubernetes", 2, 4, "train-workers-0-0")),
        (
            {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"},
            ("jax-env", 1, 2, "h:1"),
        ),
        (
            {"TORSH_COORDINATOR_ADDRESS": "127.0.0.1:9", "TORSH_NUM_PROCESSES": "3", "TORSH_PROCESS_ID": "2"},
            ("torsh-launch", 2, 3, "127.0.0.1:9"),
        ),
    ],
)
def test_environment_summary(env, expected):
    summary = dist.environment_summary({**env, "JAX_NUM_CPU_DEVICES": "2", "JAX_PLATFORMS": "cpu"})
    assert set(summary) == {
        "environment",
        "process_index",
        "process_count",
        "local_device_count",
        "coordinator",
        "error",
    }
    name, index, count, coordinator = expected
    assert (summary["environment"], summary["process_index"], summary["process_count"]) == (
        name,
        index,
        count,
    )
    assert summary["error"] is None
    assert (
        (summary["coordinator"] is None)
        if coordinator is None
        else summary["coordinator"].startswith(coordinator)
    )
    # The device count comes from the variables (JAX has not started for it).
    assert summary["local_device_count"] == 2
    # With GPUs, a SLURM/MPI task sharing its node gets one (its local rank's).
    if name in ("slurm", "openmpi"):
        gpu = dist.environment_summary({**env, "CUDA_VISIBLE_DEVICES": "0,1,2,3"})
        assert gpu["local_device_count"] == 4  # the scheduler's choice: all of them
    gpu = dist._process._local_device_count({"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, (1,))
    assert gpu == 1


def test_environment_summary_reads_os_environ_and_reports_problems(monkeypatch):
    for var in list(__import__("os").environ):
        if var.startswith(
            ("SLURM_", "OMPI_", "TORSH_", "JAX_COORDINATOR", "JAX_PROCESS", "JAX_NUM_PROCESSES")
        ) or var in (
            "WORLD_SIZE",
            "RANK",
            "MASTER_ADDR",
            "JOB_COMPLETION_INDEX",
        ):
            monkeypatch.delenv(var)
    for var, value in srun_env(procid=1, SLURM_NTASKS="1").items():
        monkeypatch.setenv(var, value)
    summary = dist.environment_summary()
    assert (
        summary["error"] is not None
        and "SLURM_PROCID" in summary["error"]
        and "SLURM_NTASKS" in summary["error"]
    )
    assert (summary["environment"], summary["process_count"]) == ("slurm", None)


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        (srun_env(procid=4), ["process_id must be an int in [0, 4), got 4", "SLURM_PROCID", "SLURM_NTASKS"]),
        ({**OMPI4, "OMPI_COMM_WORLD_RANK": "x"}, ["OMPI_COMM_WORLD_RANK='x' is not an integer"]),
        (
            {"TORSH_PROCESS_ID": "5", "TORSH_NUM_PROCESSES": "2", "TORSH_COORDINATOR_ADDRESS": "h:1"},
            ["TORSH_PROCESS_ID", "add up"],
        ),
        (
            {**K8S, "JOB_COMPLETION_INDEX": "7", "HOSTNAME": "train-7"},
            ["got 7", "JOB_COMPLETION_INDEX", "TORSH_NUM_PROCESSES"],
        ),
    ],
)
def test_ranks_that_do_not_add_up_name_their_variables(env, fragments):
    with pytest.raises(ClusterConfigError) as info:
        dist.resolve_config(environ=env)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, DistributedError)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_different_device_counts_per_process_are_refused():
    config = dist.ProcessConfig("h:1", 3, 0)
    _check_device_counts([(0, 0), (1, 1), (2, 2)], config)  # one each: fine
    with pytest.raises(ClusterConfigError, match=r"process 0: 2, process 1: 1\. .*--devices-per-process"):
        _check_device_counts([(0, 0), (0, 1), (1, 2)], dist.ProcessConfig("h:1", 2, 0))


# --- real processes --------------------------------------------------------------------------------


def test_init_without_arguments_joins_a_slurm_job():
    """Two processes with srun's variables only (one "node" 127.0.0.1; JAX_COORDINATOR_PORT as JAX
    reads it)."""
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_distributed_slurm_job.py")],
            env=subprocess_env(
                **srun_env(procid=i, nodelist="127.0.0.1", per_node="2", SLURM_NTASKS="2", SLURM_NODEID="0"),
                JAX_COORDINATOR_PORT=str(port),
                JAX_NUM_CPU_DEVICES="2",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=HANG_GUARD_SECONDS)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    for i, r in enumerate(results):
        assert r["summary"] == {
            "environment": "slurm",
            "process_index": i,
            "process_count": 2,
            "local_device_count": 2,
            "coordinator": f"127.0.0.1:{port}",
            "error": None,
        }
        assert (r["process_index"], r["process_count"], r["device_count"]) == (i, 2, 4)
        assert r["total"] == 2 * 1.0 + 2 * 2.0  # every device of both processes took part


def test_unresolvable_or_unreachable_coordinator_fails_fast(tmp_path):
    """Process 1 of 2 with no process 0: an unknown host at once, a silent port after ``timeout``."""
    code = """
import sys
from torsh import distributed as dist
for address, timeout in (("no-such-host.invalid:1234", 2), (sys.argv[1], 2)):
    try:
        dist.init(address, 2, 1, timeout=timeout)
    except dist.ClusterConfigError as e:
        print(type(e).__name__, e, flush=True)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code, f"127.0.0.1:{free_port()}"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("ClusterConfigError")]
    assert len(lines) == 2, proc.stdout + proc.stderr
    assert (
        "cannot resolve the coordinator host 'no-such-host.invalid'" in lines[0]
        and "(from argument)" in lines[0]
    )
    assert "did not reach the coordinator 127.0.0.1:" in lines[1] and "within 2 s" in lines[1]
    assert "TORSH_INIT_TIMEOUT" in lines[1]


def test_processes_with_different_device_counts_are_refused():
    """Process 0 brings 2 CPU devices, process 1 only 1: both refuse the job, naming the settings."""
    code = """
from torsh import distributed as dist
try:
    dist.init()
except dist.ClusterConfigError as e:
    print(type(e).__name__, e, flush=True)
"""
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=subprocess_env(
                TORSH_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                TORSH_NUM_PROCESSES="2",
                TORSH_PROCESS_ID=str(i),
                JAX_NUM_CPU_DEVICES=str(2 - i),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=HANG_GUARD_SECONDS)
        assert p.returncode == 0, err[-3000:]
        assert "ClusterConfigError init: the processes have different numbers of devices: " in out, out + err
        assert "process 0: 2, process 1: 1" in out and "JAX_NUM_CPU_DEVICES" in out
