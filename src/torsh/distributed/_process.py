"""Several processes: ``init`` from arguments or the environment, and what each process is.

Each process runs the same program on its own devices; ``jax.distributed`` connects them through a
coordinator (process 0), after which ``jax.devices()`` lists every process's devices and a mesh over
them makes ``jit`` run one SPMD program across processes (gloo collectives on CPU, NCCL on GPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax

from ..errors import DistributedError
from ._cluster import detect_cluster
from ._errors import ClusterConfigError

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
    "environment_summary",
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

# The first word of a source name -> the environment it stands for (environment_summary's names).
_ENVIRONMENT_OF_SOURCE = {"argument": "arguments", "torsh": "torsh-launch", "jax": "jax-env"}
# Set by schedulers that give each process its own accelerators: then every visible device is ours.
_VISIBLE_DEVICE_VARS = ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES")


@dataclasses.dataclass(frozen=True)
class ProcessConfig:
    """Where this process fits in a job, as found by :func:`resolve_config`.

    Args:
        coordinator_address: ``host:port`` of process 0's coordination service (``None``: one process).
        num_processes: The job size.
        process_id: This process's index.
        local_device_ids: The accelerator ids this process uses (``None``: all it sees).
        sources: Where each value came from (``"argument"``, ``"torsh (TORSH_PROCESS_ID)"``,
            ``"slurm (SLURM_PROCID)"`` ...).
        environment: ``"torsh-launch"``, ``"slurm"``, ``"openmpi"``, ``"kubernetes"``, ``"jax-env"``,
            ``"torchrun"``, ``"arguments"`` or ``"single-process"`` (where the process index came from).

    Example:
        >>> from torsh import distributed as dist
        >>> env = {"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "1"}
        >>> c = dist.resolve_config(environ=env)
        >>> c.num_processes, c.process_id, c.is_multi_process
        (2, 1, True)
        >>> dict(c.sources)["process_id"]
        'torchrun (RANK)'
    """

    coordinator_address: str | None
    num_processes: int
    process_id: int
    local_device_ids: tuple[int, ...] | None = None
    sources: tuple[tuple[str, str], ...] = ()
    environment: str = "single-process"

    @property
    def is_multi_process(self) -> bool:
        """True when the job has more than one process."""
        return self.num_processes > 1


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
    """This process after :func:`init`: its index, the job size and the devices it sees.

    Args:
        process_index: This process's index.
        process_count: The number of processes.
        local_device_count: Devices attached to this process.
        device_count: Devices of the whole job.
        coordinator_address: ``host:port`` of process 0 (``None`` in a single process).
        platform: JAX's default backend (``"cpu"``, ``"gpu"``...).

    Example:
        >>> from torsh import distributed as dist
        >>> me = dist.info()
        >>> me.process_index, me.process_count, me.is_main
        (0, 1, True)
    """

    process_index: int
    process_count: int
    local_device_count: int
    device_count: int
    coordinator_address: str | None
    platform: str

    @property
    def is_main(self) -> bool:
        """True in process 0 (the one that prints, logs and writes files meant to exist once)."""
        return self.process_index == 0


def _int(value: str, var: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ClusterConfigError(f"init: environment variable {var}={value!r} is not an integer") from None


def _ids(value: str, var: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ClusterConfigError(
            f"init: {var}={value!r} must be comma-separated integers, e.g. '0,1'"
        ) from None


def resolve_config(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: Sequence[int] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    detect: bool = True,
) -> ProcessConfig:
    """Work out the job layout from arguments, then environment variables, then the scheduler.

    Each value is taken from the first place that sets it: the argument; ``TORSH_COORDINATOR_ADDRESS``
    / ``TORSH_NUM_PROCESSES`` / ``TORSH_PROCESS_ID`` / ``TORSH_LOCAL_DEVICE_IDS`` (set by
    ``torsh launch``); ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID``;
    torchrun's ``MASTER_ADDR:MASTER_PORT`` / ``WORLD_SIZE`` / ``RANK`` (and ``LOCAL_RANK`` as the
    device id when ``LOCAL_WORLD_SIZE > 1``, one accelerator per process); then, with ``detect``, a
    SLURM step, an Open MPI job or a Kubernetes Indexed Job (see ``docs/clusters.md``). Nothing set
    means a single process. :attr:`ProcessConfig.environment` says which of these it was.

    Args:
        coordinator_address: ``host:port`` of process 0.
        num_processes: The job size.
        process_id: This process's index.
        local_device_ids: Accelerator ids this process uses.
        environ: The environment to read (default: ``os.environ``).
        detect: Read SLURM / Open MPI / Kubernetes variables when nothing more explicit is set.

    Returns:
        A :class:`ProcessConfig`.

    Raises:
        ClusterConfigError: If a variable is not an integer, the settings are incomplete (e.g. a size
            without a rank) or inconsistent (a rank outside ``[0, num_processes)``); the message names
            the variable that set each value.

    Example:
        >>> from torsh import distributed as dist
        >>> env = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "WORLD_SIZE": "4", "RANK": "2"}
        >>> c = dist.resolve_config(environ=env)
        >>> c.coordinator_address, c.num_processes, c.process_id, c.environment
        ('10.0.0.1:29500', 4, 2, 'torchrun')
        >>> env = {"OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_RANK": "3",
        ...        "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "4",
        ...        "OMPI_MCA_orte_hnp_uri": "1531576320.0;tcp://10.0.0.5:34911"}
        >>> c = dist.resolve_config(environ=env)
        >>> c.environment, c.coordinator_address, c.process_id, c.local_device_ids
        ('openmpi', '10.0.0.5:62624', 3, (1,))
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
            raise ClusterConfigError("init: MASTER_ADDR is set but MASTER_PORT is not (torchrun sets both)")
        values["coordinator_address"] = f"{env['MASTER_ADDR'].strip()}:{_int(port, 'MASTER_PORT')}"
        sources["coordinator_address"] = "torchrun (MASTER_ADDR, MASTER_PORT)"

    cluster = None
    if detect and None in values.values():
        cluster = detect_cluster(env)
        if cluster is not None:
            for field in values:
                found = getattr(cluster, field)
                if values[field] is None and found is not None:
                    values[field] = found
                    sources[field] = cluster.sources[field]

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
    elif (
        cluster is not None
        and cluster.local_process_id is not None
        and (cluster.local_process_count or 1) > 1
        and not any(env.get(v, "").strip() for v in _VISIBLE_DEVICE_VARS)
    ):
        # Several processes share this node and the scheduler did not pick their devices: one each.
        ids = (cluster.local_process_id,)
        sources["local_device_ids"] = f"{cluster.environment} (local rank)"

    address, n, pid = values["coordinator_address"], values["num_processes"], values["process_id"]
    key = next((f for f in ("process_id", "num_processes", "coordinator_address") if f in sources), None)
    environment = (
        "single-process"
        if key is None
        else _ENVIRONMENT_OF_SOURCE.get(sources[key].split(" ", 1)[0], sources[key].split(" ", 1)[0])
    )
    config_sources = tuple(sorted(sources.items()))
    if n is None and pid is None and address is None:
        return ProcessConfig(None, 1, 0, ids, config_sources, "single-process")

    def where(field: str) -> str:
        return f" (from {sources[field]})" if field in sources else ""

    missing = [k for k, v in (("num_processes", n), ("process_id", pid)) if v is None]
    if missing and not (n == 1 and pid is None):
        found = ", ".join(f"{k} from {v}" for k, v in sorted(sources.items())) or "nothing"
        raise ClusterConfigError(
            f"init: incomplete multi-process configuration: found {found}; missing {missing}. Pass them to "
            "init(...) or set TORSH_NUM_PROCESSES / TORSH_PROCESS_ID (torsh launch does this for you)"
        )
    if not isinstance(n, int) or n < 1:
        raise ClusterConfigError(
            f"init: num_processes must be a positive int, got {n!r}{where('num_processes')}"
        )
    pid = 0 if pid is None else pid
    if not isinstance(pid, int) or not 0 <= pid < n:
        raise ClusterConfigError(
            f"init: process_id must be an int in [0, {n}), got {pid!r}{where('process_id')}; "
            "the ranks do not "
            f"add up with num_processes={n}{where('num_processes')}"
        )
    if n > 1 and address is None:
        raise ClusterConfigError(
            f"init: {n} processes need a coordinator address (host:port of process 0); pass "
            "coordinator_address=... or set TORSH_COORDINATOR_ADDRESS (or MASTER_ADDR/MASTER_PORT)"
        )
    if address is not None and (":" not in address or not address.rsplit(":", 1)[1].isdigit()):
        raise ClusterConfigError(
            "init: coordinator address must look like host:port, "
            f"got {address!r}{where('coordinator_address')}"
        )
    return ProcessConfig(address, n, pid, ids, config_sources, environment)


_JOINED: ProcessConfig | None = None  # the configuration init() connected with


def _backends_initialized() -> bool:
    from jax._src import xla_bridge

    return bool(xla_bridge.backends_are_initialized())


def _local_device_count(env: Mapping[str, str], ids: tuple[int, ...] | None, live: bool = False) -> int:
    """This process's device count without starting JAX (which would make a later init() impossible).

    Device ids and ``*_VISIBLE_DEVICES`` only restrict accelerators; on a machine without any (no
    ``/dev/nvidia*``, ``/dev/kfd``, or ``JAX_PLATFORMS=cpu``) the CPU device count settings apply.
    """
    if live and _backends_initialized():  # this process, and JAX already knows
        return jax.local_device_count()
    gpus: list[str] = []
    with contextlib.suppress(OSError):
        gpus = [n for n in os.listdir("/dev") if (n.startswith("nvidia") and n[6:].isdigit()) or n == "kfd"]
    visible = next((env[v] for v in _VISIBLE_DEVICE_VARS if env.get(v, "").strip()), None)
    if env.get("JAX_PLATFORMS", "").strip().lower() != "cpu" and (gpus or visible is not None):
        if ids:
            return len(ids)
        if visible is not None:
            return len([v for v in visible.split(",") if v.strip()])
        return len(gpus)
    if env.get("JAX_NUM_CPU_DEVICES", "").strip().isdigit():
        return int(env["JAX_NUM_CPU_DEVICES"])
    import re

    m = re.search(r"--xla_force_host_platform_device_count=(\d+)", env.get("XLA_FLAGS", ""))
    if m:
        return int(m.group(1))
    configured = getattr(jax.config, "jax_num_cpu_devices", -1)
    return int(configured) if isinstance(configured, int) and configured > 0 else 1


def environment_summary(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Which environment this process runs in and its place in the job, from the environment only.

    It never starts JAX's distributed runtime (nor its backend, unless JAX already started), so it is
    safe to call before :func:`init`; ``torsh info`` prints it.

    Args:
        environ: The environment to read (default: ``os.environ``).

    Returns:
        A dict with ``"environment"`` (one of ``"torsh-launch"``, ``"slurm"``, ``"openmpi"``,
        ``"kubernetes"``, ``"jax-env"``, ``"torchrun"``, ``"single-process"``), ``"process_index"``,
        ``"process_count"``, ``"local_device_count"``, ``"coordinator"`` (``host:port`` or ``None``) and
        ``"error"`` (``None``, or what :func:`init` would raise about the configuration; the counts are
        then ``None``).

    Example:
        >>> from torsh import distributed as dist
        >>> env = {"TORSH_COORDINATOR_ADDRESS": "10.0.0.1:1234", "TORSH_NUM_PROCESSES": "8",
        ...        "TORSH_PROCESS_ID": "5", "JAX_NUM_CPU_DEVICES": "2"}
        >>> dist.environment_summary(env)  # doctest: +NORMALIZE_WHITESPACE
        {'environment': 'torsh-launch', 'process_index': 5, 'process_count': 8, 'local_device_count': 2,
         'coordinator': '10.0.0.1:1234', 'error': None}
        >>> dist.environment_summary({"JOB_COMPLETION_INDEX": "1", "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        ...                           "HOSTNAME": "train-1"})["error"]  # doctest: +ELLIPSIS
        "init: incomplete multi-process configuration: found ... missing ['num_processes']..."
    """
    from ..errors import TorshError

    env = os.environ if environ is None else environ
    try:
        config = resolve_config(environ=env)
    except TorshError as e:
        guess = next(
            (name for var, name in _ENVIRONMENT_MARKERS if var in env),
            "single-process",
        )
        return {
            "environment": guess,
            "process_index": None,
            "process_count": None,
            "local_device_count": None,
            "coordinator": None,
            "error": str(e),
        }
    return {
        "environment": config.environment if config.is_multi_process else "single-process",
        "process_index": config.process_id,
        "process_count": config.num_processes,
        "local_device_count": _local_device_count(env, config.local_device_ids, live=environ is None),
        "coordinator": config.coordinator_address,
        "error": None,
    }


# Variables that say which environment a broken configuration was meant for (environment_summary).
_ENVIRONMENT_MARKERS = (
    ("TORSH_PROCESS_ID", "torsh-launch"),
    ("TORSH_NUM_PROCESSES", "torsh-launch"),
    ("JAX_PROCESS_ID", "jax-env"),
    ("JAX_COORDINATOR_ADDRESS", "jax-env"),
    ("SLURM_JOB_ID", "slurm"),
    ("OMPI_COMM_WORLD_SIZE", "openmpi"),
    ("JOB_COMPLETION_INDEX", "kubernetes"),
    ("WORLD_SIZE", "torchrun"),
)


def info() -> ProcessInfo:
    """This process's index, the job size and its devices (initialises JAX's backend).

    Returns:
        A :class:`ProcessInfo`.

    Example:
        >>> import jax
        >>> from torsh import distributed as dist
        >>> me = dist.info()
        >>> me.process_count, me.device_count == len(jax.devices())
        (1, True)
    """
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
    timeout: int | None = None,
    heartbeat_timeout: int = 100,
    auto_detect: bool = True,
) -> ProcessInfo:
    """Join a multi-process job (or do nothing when there is only one process).

    Call it first thing, before JAX creates an array. The layout comes from the arguments or the
    environment (see :func:`resolve_config`): ``torsh launch``, explicit ``JAX_*`` or torchrun
    variables, a SLURM step, an Open MPI job or a Kubernetes Indexed Job/JobSet; with none of them
    the program runs as a single process, so the same script works everywhere. On CPU the
    cross-process collectives are gloo's.

    Once joined, an uncaught exception ends this process at once (exit status 1, after the traceback)
    instead of waiting in JAX's shutdown barrier for processes that will never get there, so a
    launcher or scheduler sees the failure and can stop the job.

    Args:
      coordinator_address: ``host:port`` of process 0.
      num_processes, process_id: the job size and this process's index.
      local_device_ids: accelerator ids this process uses (GPU); ``TORSH_LOCAL_DEVICE_IDS``.
      cpu_devices: simulate this many CPU devices in this process (``JAX_NUM_CPU_DEVICES``).
      timeout: seconds to wait for all processes to connect (default ``TORSH_INIT_TIMEOUT`` or 300).
      heartbeat_timeout: seconds without a heartbeat before the coordinator declares a process dead.
      auto_detect: read SLURM / Open MPI / Kubernetes variables when nothing more explicit is set.

    Returns:
      a :class:`ProcessInfo`.

    Raises:
      DistributedError: JAX has already started (arrays exist), or a second ``init`` disagrees.
      ClusterConfigError: (also a ``ConfigError``) incomplete or inconsistent settings, a coordinator
        that cannot be resolved or reached within ``timeout``, processes with different numbers of
        devices; the message names the variable that set the value.

    Example:
      >>> from torsh import distributed as dist
      >>> dist.init().process_count  # no launcher, no cluster: one process
      1
    """
    config = resolve_config(
        coordinator_address, num_processes, process_id, local_device_ids, detect=auto_detect
    )
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
    if not config.is_multi_process:
        return info()
    if _backends_initialized():
        raise DistributedError(
            "init: JAX has already started (an array was created or devices were queried) in process "
            f"{config.process_id}; call torsh.distributed.init() before any other JAX/torsh work"
        )
    if timeout is None:
        raw = os.environ.get("TORSH_INIT_TIMEOUT", "").strip()
        timeout = _int(raw, "TORSH_INIT_TIMEOUT") if raw else 300
    address = config.coordinator_address
    assert address is not None  # resolve_config guarantees it for several processes
    source = dict(config.sources).get("coordinator_address", "argument")
    host, port = address.rsplit(":", 1)
    try:
        socket.getaddrinfo(host.strip("[]"), int(port))
    except (socket.gaierror, UnicodeError) as e:
        raise ClusterConfigError(
            f"init: process {config.process_id} cannot resolve the coordinator host {host!r} of {address!r} "
            f"(from {source}): {e}. Fix the host name, or set TORSH_COORDINATOR_ADDRESS=host:port of "
            "process 0"
        ) from None
    if config.process_id != 0:
        # JAX aborts the whole interpreter (a C++ fatal error) when it cannot register with the
        # coordinator in time; waiting for the port here first turns that into an exception.
        _wait_for_coordinator(host.strip("[]"), int(port), timeout, config.process_id, address, source)
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs: dict[str, Any] = {
        "initialization_timeout": int(timeout),
        "heartbeat_timeout_seconds": int(heartbeat_timeout),
    }
    if host in ("127.0.0.1", "localhost") and "JAX_COORDINATOR_BIND_ADDRESS" not in os.environ:
        kwargs["coordinator_bind_address"] = f"127.0.0.1:{port}"  # a local job stays local
    _exit_at_once_on_uncaught_exceptions(config.process_id)
    main_thread = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
    try:
        jax.distributed.initialize(
            address,
            config.num_processes,
            config.process_id,
            local_device_ids=list(config.local_device_ids) if config.local_device_ids else None,
            cluster_detection_method="deactivate",
            **kwargs,
        )
    except Exception as e:  # JAX raises XlaRuntimeError (DEADLINE_EXCEEDED, UNAVAILABLE ...)
        text = str(e)
        if jax.distributed.is_initialized():
            jax.distributed.shutdown()
        reason = (
            f"did not reach the coordinator {address} (from {source}) or did not hear from all "
            f"{config.num_processes} processes within {timeout} s"
            if any(
                w in text for w in ("DEADLINE_EXCEEDED", "UNAVAILABLE", "timed out", "Timed out", "Deadline")
            )
            else f"could not join the job at {address} (from {source})"
        )
        raise ClusterConfigError(
            f"init: process {config.process_id} of {config.num_processes} {reason}. Check that process 0 "
            f"is running, that every process gets the same coordinator address and that its port is "
            f"reachable (firewall); TORSH_INIT_TIMEOUT sets the wait. JAX said: "
            f"{text.splitlines()[0] if text else type(e).__name__}"
        ) from e
    _JOINED = config
    # JAX's preemption notifier catches SIGTERM (to let code poll for preemption) and so keeps the
    # process running when a launcher or scheduler stops the job: give SIGTERM back what it did
    # before init (by default: end the process; a handler the program installed stays).
    if main_thread and sigterm is not None:
        signal.signal(signal.SIGTERM, sigterm)
    _check_device_counts([(d.process_index, d.id) for d in jax.devices()], config)
    return info()


def _wait_for_coordinator(
    host: str, port: int, timeout: float, process_id: int, address: str, source: str
) -> None:
    """Return once ``host:port`` accepts TCP connections; raise ClusterConfigError after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(2.0, max(timeout, 0.1))):
                return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise ClusterConfigError(
                    f"init: process {process_id} did not reach the coordinator {address} (from {source}) "
                    "within "
                    f"{timeout} s: {e}. Check that process 0 is running, that every process gets the same "
                    "coordinator address and that its port is reachable (firewall); TORSH_INIT_TIMEOUT "
                    "(or init(timeout=...)) sets the wait"
                ) from None
            time.sleep(0.25)


def _exit_at_once_on_uncaught_exceptions(process_id: int) -> None:
    """After the traceback, end the process with ``os._exit(1)``.

    A normal interpreter exit runs JAX's atexit hook, whose ``jax.distributed.shutdown()`` waits at a
    barrier for every other process, which are busy (or stuck in a collective waiting for this one):
    the launcher would see the failure only minutes later. Skipping the exit handlers is what a crash
    does anyway; stdout and stderr are flushed first.
    """
    previous = sys.excepthook
    if getattr(previous, "_torsh_fail_fast", False):
        return

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        failure_dir = os.environ.get("TORSH_FAILURE_DIR")
        if failure_dir:  # under torsh launch: the time of the exception orders the job's failures
            with contextlib.suppress(OSError):
                with open(os.path.join(failure_dir, f"{process_id}.time"), "w") as f:
                    f.write(repr(time.time()))
        try:
            previous(exc_type, exc, tb)
            print(
                f"torsh.distributed: process {process_id} raised {exc_type.__name__}; exiting now instead "
                "of waiting for the other processes at shutdown",
                file=sys.stderr,
            )
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(130 if issubclass(exc_type, KeyboardInterrupt) else 1)

    hook._torsh_fail_fast = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def _check_device_counts(devices: Sequence[tuple[int, int]], config: ProcessConfig) -> None:
    """Every process must bring the same number of devices (batches and meshes are split evenly).

    Example:
      >>> from torsh.distributed._process import _check_device_counts, ProcessConfig
      >>> from torsh.distributed import ClusterConfigError
      >>> try:
      ...     _check_device_counts([(0, 0), (0, 1), (1, 2)], ProcessConfig("h:1", 2, 0))
      ... except ClusterConfigError as e:
      ...     print(str(e)[:81])
      init: the processes have different numbers of devices: process 0: 2, process 1: 1
    """
    counts: dict[int, int] = {}
    for process, _ in devices:
        counts[process] = counts.get(process, 0) + 1
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"process {p}: {c}" for p, c in sorted(counts.items()))
        raise ClusterConfigError(
            f"init: the processes have different numbers of devices: {listed}. Give every process "
            "the same count: --devices-per-process / JAX_NUM_CPU_DEVICES on CPU, TORSH_LOCAL_DEVICE_IDS or "
            "CUDA_VISIBLE_DEVICES (one process per GPU, or one per node with the same GPUs on each node)"
        )


def shutdown() -> None:
    """Leave the job (waits for the other processes); a no-op when :func:`init` did not connect.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.shutdown()  # single process: nothing to leave
        >>> dist.is_initialized()
        False
    """
    global _JOINED
    if jax.distributed.is_initialized():
        jax.distributed.shutdown()
    _JOINED = None


def is_initialized() -> bool:
    """True after :func:`init` connected to other processes.

    Returns:
        Whether JAX's distributed runtime is connected.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.is_initialized()  # a single process never connects
        False
    """
    return jax.distributed.is_initialized()


def process_index() -> int:
    """This process's index (0 in a single-process program), like ``torch.distributed.get_rank``.

    Returns:
        The index in ``[0, process_count())``.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.process_index()
        0
    """
    return jax.process_index()


def process_count() -> int:
    """The number of processes in the job, like ``torch.distributed.get_world_size`` (per process).

    Returns:
        The number of processes (1 in a single-process program).

    Example:
        >>> from torsh import distributed as dist
        >>> dist.process_count()
        1
    """
    return jax.process_count()


def is_main_process() -> bool:
    """True in process 0: the one that should print, log and write files meant to exist once.

    Returns:
        Whether this is process 0.

    Example:
        >>> from torsh import distributed as dist
        >>> if dist.is_main_process():
        ...     print("saving checkpoint")
        saving checkpoint
    """
    return jax.process_index() == 0


def barrier(name: str = "torsh_barrier") -> None:
    """Wait until every process reaches the barrier with the same ``name`` (a no-op in one process).

    Like ``torch.distributed.barrier``.

    Args:
        name: The barrier's name; every process must use the same name at the same point.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.barrier("after-checkpoint")  # returns at once in a single process
    """
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
