"""Which scheduler started this process, and what it says about the job (SLURM, Open MPI, Kubernetes).

SLURM and Open MPI (<= 4, ORTE) are read by JAX's own detectors (``jax._src.clusters.SlurmCluster``,
``OmpiCluster``), so torsh finds the same coordinator address, process count and index that
``jax.distributed.initialize()`` would. What JAX 0.10 lacks is added here:

- Open MPI 5 (PRRTE/PMIx: no ``OMPI_MCA_orte_hnp_uri``): the ``mpirun`` host comes from
  ``PMIX_SERVER_URI*`` and the port from a hash of ``PMIX_NAMESPACE``.
- Kubernetes Indexed Jobs / JobSets without the ``kubernetes`` package or API permissions (JAX's
  ``K8sCluster`` needs both): the index is ``JOB_COMPLETION_INDEX``, the coordinator is pod 0 of the
  same job under the pod's headless-service domain, the job size ``TORSH_NUM_PROCESSES``.
- Local devices: JAX gives every process of a SLURM/MPI job only device ``[local rank]``, even with
  one process per node (one GPU of eight). torsh does so only when several processes share a node
  and the scheduler did not already set ``CUDA_VISIBLE_DEVICES``.
- A SLURM batch step that asked for several tasks but runs one process (``python train.py``
  instead of ``srun python train.py``) is an error, not a silent single-process run.

Nothing here starts JAX's runtime: it only reads variables (and, for Kubernetes, the host name).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
import threading
import types
import zlib
from collections.abc import Callable, Iterator, Mapping

from ._errors import ClusterConfigError

__all__ = ["ClusterValues", "detect_cluster", "tasks_on_node", "K8S_DEFAULT_PORT"]

K8S_DEFAULT_PORT = 55527  # the port JAX's K8sCluster uses, so both agree
_EPHEMERAL_BASE = 65535 - 2**12 + 1  # JAX picks scheduler-derived ports in [61440, 65535]


@dataclasses.dataclass(frozen=True)
class ClusterValues:
    """What a scheduler's variables say about this process (``None``: the scheduler does not say).

    Args:
        environment: ``"slurm"``, ``"openmpi"`` or ``"kubernetes"``.
        coordinator_address: ``host:port`` of process 0's coordinator.
        num_processes: The job size.
        process_id: This process's index.
        local_process_id: Its index among the processes of its node.
        local_process_count: Processes on its node.
        sources: Field → where it came from (``"slurm (SLURM_PROCID)"``).

    Example:
        >>> from torsh.distributed._cluster import detect_cluster
        >>> env = {"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2",
        ...        "OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
        ...        "OMPI_MCA_orte_hnp_uri": "1531576320.0;tcp://10.0.0.5:34911"}
        >>> values = detect_cluster(env)
        >>> values.environment, values.num_processes, values.process_id, values.sources["process_id"]
        ('openmpi', 4, 2, 'openmpi (OMPI_COMM_WORLD_RANK)')
    """

    environment: str  # "slurm", "openmpi", "kubernetes"
    coordinator_address: str | None
    num_processes: int | None
    process_id: int | None
    local_process_id: int | None
    local_process_count: int | None
    sources: Mapping[str, str]  # field -> "slurm (SLURM_PROCID)"


_JAX_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _jax_reads(module: types.ModuleType, env: Mapping[str, str]) -> Iterator[None]:
    """Let one of JAX's cluster modules read ``env`` instead of ``os.environ``.

    JAX's detectors read ``os.environ`` directly; swapping the module's ``os`` name for a view with
    another ``environ`` lets torsh run JAX's own parsing on any mapping (tests, dry runs) without
    touching the real process environment.
    """
    import os

    if env is os.environ:
        yield
        return
    view = types.SimpleNamespace(**{k: getattr(os, k) for k in ("path", "getenv")})
    view.environ = env
    view.getenv = lambda key, default=None: env.get(key, default)
    namespace = vars(module)  # the module's globals: JAX's functions look ``os`` up there
    with _JAX_ENV_LOCK:
        original = namespace["os"]
        namespace["os"] = view
        try:
            yield
        finally:
            namespace["os"] = original


def _int(env: Mapping[str, str], var: str, where: str) -> int:
    raw = env[var].strip()
    try:
        return int(raw)
    except ValueError:
        raise ClusterConfigError(f"{where}: environment variable {var}={raw!r} is not an integer") from None


def tasks_on_node(spec: str, node_index: int) -> int | None:
    """The number of tasks on node ``node_index`` from SLURM's compressed list (``"2(x3),1"``).

    Args:
        spec: ``SLURM_STEP_TASKS_PER_NODE`` (or ``SLURM_TASKS_PER_NODE``).
        node_index: The node's index in the allocation.

    Returns:
        The task count, or None when the list is malformed or too short.

    Example:
        >>> from torsh.distributed._cluster import tasks_on_node
        >>> [tasks_on_node("2(x3),1", i) for i in range(5)]
        [2, 2, 2, 1, None]
    """
    counts: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", part)
        if not m:
            return None
        counts += [int(m.group(1))] * int(m.group(2) or 1)
    return counts[node_index] if 0 <= node_index < len(counts) else None


def _port_override(env: Mapping[str, str]) -> str | None:
    for var in ("TORSH_COORDINATOR_PORT", "JAX_COORDINATOR_PORT"):
        if env.get(var, "").strip():
            return env[var].strip()
    return None


def _slurm(env: Mapping[str, str]) -> ClusterValues | None:
    from jax._src.clusters import slurm_cluster

    if "SLURM_JOB_ID" not in env:
        return None
    with _jax_reads(slurm_cluster, env):
        present = slurm_cluster.SlurmCluster.is_env_present()
    if not present:
        # The batch step of an sbatch script: SLURM_NTASKS tasks were allocated, this is one process.
        ntasks = env.get("SLURM_NTASKS", "").strip()
        if ntasks.isdigit() and int(ntasks) > 1 and "SLURM_STEP_ID" not in env:
            raise ClusterConfigError(
                f"init: SLURM allocated SLURM_NTASKS={ntasks} tasks but this process is the batch "
                "script itself (no SLURM_STEP_NODELIST/SLURM_PROCID): start one process per task with "
                "`srun python train.py` (see docs/clusters.md), or set SLURM_NTASKS=1 for one process"
            )
        return None
    where = "init (SLURM)"
    with _jax_reads(slurm_cluster, env):
        try:
            address = slurm_cluster.SlurmCluster.get_coordinator_address(None, _port_override(env))
        except (ValueError, KeyError) as e:
            raise ClusterConfigError(
                f"{where}: cannot derive the coordinator from SLURM_STEP_NODELIST / SLURM_JOB_ID: {e}"
            ) from None
    n = _int(env, "SLURM_NTASKS", where)
    pid = _int(env, "SLURM_PROCID", where)
    local = _int(env, "SLURM_LOCALID", where)
    local_count = None
    for var in ("SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"):
        if env.get(var, "").strip() and env.get("SLURM_NODEID", "").strip().isdigit():
            local_count = tasks_on_node(env[var], int(env["SLURM_NODEID"]))
            if local_count is not None:
                break
    if local_count is None and env.get("SLURM_NTASKS_PER_NODE", "").strip().isdigit():
        local_count = int(env["SLURM_NTASKS_PER_NODE"])
    port_src = "" if _port_override(env) is None else " + *_COORDINATOR_PORT"
    return ClusterValues(
        "slurm",
        address,
        n,
        pid,
        local,
        local_count,
        {
            "coordinator_address": (
                f"slurm (first host of SLURM_STEP_NODELIST, port from SLURM_JOB_ID{port_src})"
            ),
            "num_processes": "slurm (SLURM_NTASKS)",
            "process_id": "slurm (SLURM_PROCID)",
        },
    )


def _pmix_address(env: Mapping[str, str]) -> str | None:
    """Open MPI 5: the mpirun (PRRTE) host from ``PMIX_SERVER_URI*``; the port from the job's namespace."""
    for var in (
        "PMIX_SERVER_URI41",
        "PMIX_SERVER_URI4",
        "PMIX_SERVER_URI3",
        "PMIX_SERVER_URI21",
        "PMIX_SERVER_URI2",
    ):
        m = re.search(r"tcp4?://([^:;,/]+)", env.get(var, ""))
        if m:
            port = _port_override(env)
            if port is None:
                port = str(zlib.crc32(env.get("PMIX_NAMESPACE", "").encode()) % 2**12 + _EPHEMERAL_BASE)
            return f"{m.group(1)}:{port}"
    return None


def _openmpi(env: Mapping[str, str]) -> ClusterValues | None:
    from jax._src.clusters import ompi_cluster

    if "OMPI_COMM_WORLD_SIZE" not in env:
        return None
    where = "init (Open MPI)"
    address: str | None
    with _jax_reads(ompi_cluster, env):
        if ompi_cluster.OmpiCluster.is_env_present():  # Open MPI <= 4: JAX's own parsing
            try:
                address = ompi_cluster.OmpiCluster.get_coordinator_address(None, _port_override(env))
            except (RuntimeError, ValueError) as e:
                raise ClusterConfigError(f"{where}: OMPI_MCA_orte_hnp_uri: {e}") from None
            address_src = "openmpi (mpirun host from OMPI_MCA_orte_hnp_uri)"
        else:
            address = _pmix_address(env)
            address_src = "openmpi (mpirun host from PMIX_SERVER_URI*, port from PMIX_NAMESPACE)"
    sources = {
        "num_processes": "openmpi (OMPI_COMM_WORLD_SIZE)",
        "process_id": "openmpi (OMPI_COMM_WORLD_RANK)",
    }
    if address is not None:
        sources["coordinator_address"] = address_src
    return ClusterValues(
        "openmpi",
        address,
        _int(env, "OMPI_COMM_WORLD_SIZE", where),
        _int(env, "OMPI_COMM_WORLD_RANK", where),
        _int(env, "OMPI_COMM_WORLD_LOCAL_RANK", where) if "OMPI_COMM_WORLD_LOCAL_RANK" in env else None,
        _int(env, "OMPI_COMM_WORLD_LOCAL_SIZE", where) if "OMPI_COMM_WORLD_LOCAL_SIZE" in env else None,
        sources,
    )


def _kubernetes(env: Mapping[str, str], fqdn: Callable[[], str]) -> ClusterValues | None:
    if "JOB_COMPLETION_INDEX" not in env or "KUBERNETES_SERVICE_HOST" not in env:
        return None
    where = "init (Kubernetes)"
    pid = _int(env, "JOB_COMPLETION_INDEX", where)
    hostname = env.get("HOSTNAME", "").strip() or socket.gethostname()
    # An Indexed Job's pod is named <job>-<index> (a JobSet's <jobset>-<replicated job>-<job index>-<index>);
    # pod 0 of the same job hosts the coordinator, reachable under this pod's headless-service domain.
    m = re.fullmatch(r"(.+)-(\d+)", hostname)
    address = None
    if m and int(m.group(2)) == pid:
        full = fqdn()
        domain = full[len(hostname) + 1 :] if full.startswith(hostname + ".") else ""
        host = f"{m.group(1)}-0" + (f".{domain}" if domain else "")
        address = f"{host}:{_port_override(env) or K8S_DEFAULT_PORT}"
    sources = {"process_id": "kubernetes (JOB_COMPLETION_INDEX)"}
    if address is not None:
        sources["coordinator_address"] = "kubernetes (pod 0 of this job: HOSTNAME with index 0 + pod domain)"
    return ClusterValues("kubernetes", address, None, pid, None, None, sources)


def detect_cluster(env: Mapping[str, str], fqdn: Callable[[], str] = socket.getfqdn) -> ClusterValues | None:
    """The first scheduler whose variables are present (SLURM, Open MPI, Kubernetes), or ``None``.

    Args:
        env: The environment to read.
        fqdn: Returns this host's fully qualified name (Kubernetes: the coordinator is pod 0 of the
            same headless-service domain).

    Returns:
        The :class:`ClusterValues`, or None when no scheduler's variables are set.

    Raises:
        ClusterConfigError: If a scheduler variable is malformed (not an integer), or a SLURM batch step
            that asked for several tasks runs a single process (``python`` instead of ``srun python``).

    Example:
        >>> from torsh.distributed._cluster import detect_cluster
        >>> env = {"SLURM_JOB_ID": "4096", "SLURM_STEP_NODELIST": "gpu[017-018]", "SLURM_NTASKS": "2",
        ...        "SLURM_PROCID": "1", "SLURM_LOCALID": "0", "SLURM_NODEID": "1",
        ...        "SLURM_STEP_TASKS_PER_NODE": "1(x2)"}
        >>> c = detect_cluster(env)
        >>> c.environment, c.coordinator_address, c.num_processes, c.process_id, c.local_process_count
        ('slurm', 'gpu017:61440', 2, 1, 1)
        >>> detect_cluster({}) is None
        True
    """
    for probe in (_slurm, _openmpi):
        found = probe(env)
        if found is not None:
            return found
    return _kubernetes(env, fqdn)
