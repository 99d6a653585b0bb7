"""Several processes: ``init`` from arguments or the environment, and what each process is.

Each process runs the same program on its own devices; ``jax.distributed`` connects them through a
coordinator (process 0), after which ``jax.devices()`` lists every process's devices and a mesh over
them makes ``jit`` run one SPMD program across processes (gloo collectives on CPU, NCCL on GPU).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax

from ..errors import ConfigError, DistributedError

__all__ = [
    "ProcessConfig",
    "ProcessInfo",
    "resolve_config",
    "init",
    "shutdown",
    "is_initialized",
    "process_index",
    "process_count",
    "is_main_process",
    "barrier",
    "info",
]

# (field, [(environment variable, source name), ...]) in precedence order, after explicit arguments.
_ENV_SOURCES: dict[str, list[tuple[str, str]]] = {
    "coordinator_address": [
        ("TORSH_COORDINATOR_ADDRESS", "torsh"),
        ("JAX_COORDINATOR_ADDRESS", "jax"),
    ],
    "num_processes": [
        ("TORSH_NUM_PROCESSES", "torsh"),
        ("JAX_NUM_PROCESSES", "jax"),
        ("WORLD_SIZE", "torchrun"),
    ],
    "process_id": [
        ("TORSH_PROCESS_ID", "torsh"),
        ("JAX_PROCESS_ID", "jax"),
        ("RANK", "torchrun"),
    ],
}


@dataclasses.dataclass(frozen=True)
class ProcessConfig:
    """Where this process fits in a job, as found by :func:`resolve_config`.

    Attributes:
      coordinator_address: ``host:port`` of process 0's coordination service (``None``: one process).
      num_processes, process_id: the job size and this process's index.
      local_device_ids: the accelerator ids this process uses (``None``: all it sees).
      sources: where each value came from (``"argument"``, ``"torsh"``, ``"jax"``, ``"torchrun"``).
    """

    coordinator_address: str | None
    num_processes: int
    process_id: int
    local_device_ids: tuple[int, ...] | None = None
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def is_multi_process(self) -> bool:
        return self.num_processes > 1


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
    """This process after :func:`init`: its index, the job size and the devices it sees."""

    process_index: int
    process_count: int
    local_device_count: int
    device_count: int
    coordinator_address: str | None
    platform: str

    @property
    def is_main(self) -> bool:
        return self.process_index == 0


def _int(value: str, var: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"init: environment variable {var}={value!r} is not an integer") from None


def _ids(value: str, var: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"init: {var}={value!r} must be comma-separated integers, e.g. '0,1'") from None


def resolve_config(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: Sequence[int] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProcessConfig:
    """Work out the job layout from arguments, then environment variables.

    Each value is taken from the first place that sets it: the argument; ``TORSH_COORDINATOR_ADDRESS``
    / ``TORSH_NUM_PROCESSES`` / ``TORSH_PROCESS_ID`` / ``TORSH_LOCAL_DEVICE_IDS`` (set by
    ``torsh launch``); ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID``;
    torchrun's ``MASTER_ADDR:MASTER_PORT`` / ``WORLD_SIZE`` / ``RANK`` (and ``LOCAL_RANK`` as the
    device id when ``LOCAL_WORLD_SIZE > 1``, one accelerator per process). Nothing set means a
    single process.

    Example:
      >>> from torsh import distributed as dist
      >>> env = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "WORLD_SIZE": "4", "RANK": "2"}
      >>> c = dist.resolve_config(environ=env)
      >>> c.coordinator_address, c.num_processes, c.process_id
      ('10.0.0.1:29500', 4, 2)
    """
    env = os.environ if environ is None else environ
    sources: dict[str, str] = {}
    values: dict[str, Any] = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    for field, value in list(values.items()):
        if value is not None:
            sources[field] = "argument"
            continue
        for var, source in _ENV_SOURCES[field]:
            if env.get(var, "").strip():
                raw = env[var].strip()
                values[field] = raw if field == "coordinator_address" else _int(raw, var)
                sources[field] = f"{source} ({var})"
                break
    if values["coordinator_address"] is None and env.get("MASTER_ADDR", "").strip():
        port = env.get("MASTER_PORT", "").strip()
        if not port:
            raise ConfigError("init: MASTER_ADDR is set but MASTER_PORT is not (torchrun sets both)")
        values["coordinator_address"] = f"{env['MASTER_ADDR'].strip()}:{_int(port, 'MASTER_PORT')}"
        sources["coordinator_address"] = "torchrun (MASTER_ADDR, MASTER_PORT)"

    ids: tuple[int, ...] | None = None
    if local_device_ids is not None:
        ids = tuple(int(i) for i in local_device_ids)
        sources["local_device_ids"] = "argument"
    elif env.get("TORSH_LOCAL_DEVICE_IDS", "").strip():
        ids = _ids(env["TORSH_LOCAL_DEVICE_IDS"], "TORSH_LOCAL_DEVICE_IDS")
        sources["local_device_ids"] = "torsh (TORSH_LOCAL_DEVICE_IDS)"
    elif (
        env.get("LOCAL_RANK", "").strip()
        and _int(env.get("LOCAL_WORLD_SIZE", "1") or "1", "LOCAL_WORLD_SIZE") > 1
    ):
        ids = (_int(env["LOCAL_RANK"], "LOCAL_RANK"),)
        sources["local_device_ids"] = "torchrun (LOCAL_RANK)"

    address, n, pid = values["coordinator_address"], values["num_processes"], values["process_id"]
    if n is None and pid is None and address is None:
        return ProcessConfig(None, 1, 0, ids, tuple(sorted(sources.items())))
    missing = [k for k, v in (("num_processes", n), ("process_id", pid)) if v is None]
    if missing and not (n == 1 and pid is None):
        found = ", ".join(f"{k} from {v}" for k, v in sorted(sources.items())) or "nothing"
        raise ConfigError(
            f"init: incomplete multi-process configuration: found {found}; missing {missing}. Pass them to "
            "init(...) or set TORSH_NUM_PROCESSES / TORSH_PROCESS_ID (torsh launch does this for you)"
        )
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"init: num_processes must be a positive int, got {n!r}")
    pid = 0 if pid is None else pid
    if not isinstance(pid, int) or not 0 <= pid < n:
        raise ConfigError(f"init: process_id must be an int in [0, {n}), got {pid!r} (num_processes={n})")
    if n > 1 and address is None:
        raise ConfigError(
            f"init: {n} processes need a coordinator address (host:port of process 0); pass "
            "coordinator_address=... or set TORSH_COORDINATOR_ADDRESS (or MASTER_ADDR/MASTER_PORT)"
        )
    if address is not None and (":" not in address or not address.rsplit(":", 1)[1].isdigit()):
        raise ConfigError(f"init: coordinator address must look like host:port, got {address!r}")
    return ProcessConfig(address, n, pid, ids, tuple(sorted(sources.items())))


_JOINED: ProcessConfig | None = None  # the configuration init() connected with


def _backends_initialized() -> bool:
    from jax._src import xla_bridge

    return bool(xla_bridge.backends_are_initialized())


def _cluster_detected() -> bool:
    """True inside SLURM, Open MPI, Kubernetes/TPU jobs that ``jax.distributed`` can configure itself."""
    try:
        from jax._src import clusters
    except ImportError:
        return False
    for cluster in getattr(clusters.ClusterEnv, "_cluster_types", ()):
        if getattr(cluster, "opt_in_only_method", False):  # e.g. mpi4py: merely installed is no job
            continue
        try:
            if cluster.is_env_present():
                return True
        except Exception:  # a probe that cannot run here (e.g. no metadata server)
            continue
    return False


def info() -> ProcessInfo:
    """This process's index, the job size and its devices (initialises JAX's backend)."""
    return ProcessInfo(
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        local_device_count=jax.local_device_count(),
        device_count=jax.device_count(),
        coordinator_address=_JOINED.coordinator_address if _JOINED is not None else None,
        platform=jax.default_backend(),
    )


def init(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: Sequence[int] | None = None,
    cpu_devices: int | None = None,
    timeout: int = 300,
    heartbeat_timeout: int = 100,
    auto_detect: bool = True,
) -> ProcessInfo:
    """Join a multi-process job (or do nothing when there is only one process).

    Call it first thing, before JAX creates an array. The layout comes from the arguments or the
    environment (see :func:`resolve_config`: ``torsh launch``, torchrun and JAX variables); without
    either, SLURM / Open MPI / Kubernetes jobs are detected by ``jax.distributed``, and otherwise the
    program runs as a single process, so the same script works with and without a launcher. On CPU
    the cross-process collectives are gloo's.

    Args:
      coordinator_address: ``host:port`` of process 0.
      num_processes, process_id: the job size and this process's index.
      local_device_ids: accelerator ids this process uses (GPU); ``TORSH_LOCAL_DEVICE_IDS``.
      cpu_devices: simulate this many CPU devices in this process (``JAX_NUM_CPU_DEVICES``).
      timeout: seconds to wait for all processes to connect.
      heartbeat_timeout: seconds without a heartbeat before the coordinator declares a process dead.
      auto_detect: let ``jax.distributed`` configure SLURM/MPI/Kubernetes jobs.

    Returns:
      a :class:`ProcessInfo`.

    Raises:
      DistributedError: JAX has already started (arrays exist), or a second ``init`` disagrees.
      ConfigError: incomplete or invalid settings (the message says which and where they came from).

    Example:
      >>> from torsh import distributed as dist
      >>> dist.init().process_count  # no launcher, no cluster: one process
      1
    """
    config = resolve_config(coordinator_address, num_processes, process_id, local_device_ids)
    global _JOINED
    if jax.distributed.is_initialized():
        joined = (jax.process_count(), jax.process_index())
        if config.is_multi_process and joined != (config.num_processes, config.process_id):
            raise DistributedError(
                f"init: already initialised as process {joined[1]} of {joined[0]}; "
                f"cannot re-initialise as {config.process_id} of {config.num_processes}"
            )
        return info()
    if cpu_devices is not None:
        from ..backends import set_cpu_device_count

        set_cpu_device_count(cpu_devices)
    if not config.is_multi_process and not (
        auto_detect and config.coordinator_address is None and _cluster_detected()
    ):
        return info()
    if _backends_initialized():
        raise DistributedError(
            "init: JAX has already started (an array was created or devices were queried) in process "
            f"{config.process_id}; call torsh.distributed.init() before any other JAX/torsh work"
        )
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs: dict[str, Any] = {
        "initialization_timeout": int(timeout),
        "heartbeat_timeout_seconds": int(heartbeat_timeout),
    }
    if config.is_multi_process:
        host, port = config.coordinator_address.rsplit(":", 1)  # type: ignore[union-attr]
        if host in ("127.0.0.1", "localhost"):
            kwargs["coordinator_bind_address"] = f"127.0.0.1:{port}"  # a local job stays local
        jax.distributed.initialize(
            config.coordinator_address,
            config.num_processes,
            config.process_id,
            local_device_ids=list(config.local_device_ids) if config.local_device_ids else None,
            cluster_detection_method="deactivate",
            **kwargs,
        )
        _JOINED = config
    else:
        jax.distributed.initialize(**kwargs)
    return info()


def shutdown() -> None:
    """Leave the job (waits for the other processes); a no-op when :func:`init` did not connect."""
    global _JOINED
    if jax.distributed.is_initialized():
        jax.distributed.shutdown()
    _JOINED = None


def is_initialized() -> bool:
    """True after :func:`init` connected to other processes."""
    return jax.distributed.is_initialized()


def process_index() -> int:
    """This process's index (0 in a single-process program)."""
    return jax.process_index()


def process_count() -> int:
    """The number of processes in the job."""
    return jax.process_count()


def is_main_process() -> bool:
    """True in process 0: the one that should print, log and write files meant to exist once."""
    return jax.process_index() == 0


def barrier(name: str = "torsh_barrier") -> None:
    """Wait until every process reaches the barrier with the same ``name`` (a no-op in one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
