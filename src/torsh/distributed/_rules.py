"""Rules tables and sharding plans: from logical axis names to mesh axes.

A *rules table* maps the logical axis names that layers give their parameters (``"embed"``,
``"mlp"``, ``"heads"``, ``"vocab"``, ``"batch"``...) to mesh axes: a mesh axis name, a tuple of
them (the dimension is split over their product), or ``None`` (replicated). A :class:`Plan` is a
rules table plus, optionally, FSDP: every leaf that the rules leave unsplit along the FSDP axis is
split along it on its largest divisible dimension. The presets below return plans.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Union

from jax.sharding import AbstractMesh, Mesh, PartitionSpec

from ._errors import MeshError, ShardingError

__all__ = [
    "Plan",
    "Rules",
    "MeshAxes",
    "as_plan",
    "data_parallel",
    "fsdp",
    "tensor_parallel",
    "data_model_parallel",
    "MEGATRON_NAMES",
]

MeshAxes = Union[str, tuple[str, ...], None]  # noqa: UP007 - a runtime alias; `|` needs 3.10 types
Rules = Mapping[str, MeshAxes]
Names = Sequence[str | None]

#: Logical names whose dimension Megatron-style tensor parallelism splits: the hidden dimension of
#: MLPs (column-parallel first Linear ``("mlp", "embed")``, row-parallel second ``("embed", "mlp")``),
#: attention heads (q/k/v ``("heads", "embed")``, output ``("embed", "heads")``) and the vocabulary.
MEGATRON_NAMES: tuple[str, ...] = ("mlp", "heads", "vocab")


def _normalise_axes(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        if len(set(value)) != len(value):
            raise MeshError(f"rules: {name!r} maps to {tuple(value)!r}, which repeats a mesh axis")
        return tuple(value)
    raise MeshError(f"rules: {name!r} must map to a mesh axis name, a tuple of them or None; got {value!r}")


class Plan:
    """How to place a tree on a mesh: a rules table and, optionally, FSDP over one mesh axis.

    Args:
        rules: Logical name → mesh axis (``str``), mesh axes (``tuple``) or ``None`` (replicated).
            Names not in the table are replicated.
        fsdp: A mesh axis over which to additionally split every leaf that is not yet split along it:
            on its largest dimension that the rules leave unsplit and that the axis size divides (ties:
            the leading one); failing that, further on its largest already-split dimension that stays
            divisible. Leaves with no such dimension stay replicated along it.
        fsdp_min_size: Leaves with fewer elements than this are not FSDP-split (saves tiny collectives).
        name: Shown in reports.

    Raises:
        MeshError: If a logical name is not a string, a rule is not an axis name, a tuple of distinct
            names or None, ``fsdp`` is not a string, or ``fsdp_min_size`` is negative.

    Example:
        >>> import torsh
        >>> from torsh import distributed as dist
        >>> plan = dist.Plan({"batch": "data", "mlp": "model"}, name="2d")
        >>> plan.rules
        {'batch': 'data', 'mlp': 'model'}
    """

    __slots__ = ("_rules", "_axes", "fsdp", "fsdp_min_size", "name")

    def __init__(
        self,
        rules: Rules | None = None,
        *,
        fsdp: str | None = None,
        fsdp_min_size: int = 0,
        name: str | None = None,
    ) -> None:
        rules = dict(rules or {})
        for key in rules:
            if not isinstance(key, str):
                raise MeshError(f"rules: logical names must be strings, got {key!r}")
        self._axes = {k: _normalise_axes(k, v) for k, v in rules.items()}
        self._rules = rules
        if fsdp is not None and not isinstance(fsdp, str):
            raise MeshError(f"Plan: fsdp must be a mesh axis name or None, got {fsdp!r}")
        if not isinstance(fsdp_min_size, int) or fsdp_min_size < 0:
            raise MeshError(f"Plan: fsdp_min_size must be a non-negative int, got {fsdp_min_size!r}")
        self.fsdp = fsdp
        self.fsdp_min_size = fsdp_min_size
        self.name = name or "rules"

    @property
    def rules(self) -> dict[str, MeshAxes]:
        """The rules table (a copy)."""
        return dict(self._rules)

    def mesh_axes(self, logical: str | None) -> tuple[str, ...]:
        """The mesh axes a logical name maps to (``()``: replicated).

        Args:
            logical: A logical axis name, or None.

        Returns:
            A tuple of mesh axis names.

        Example:
            >>> from torsh import distributed as dist
            >>> plan = dist.Plan({"batch": "data", "mlp": ("data", "model")})
            >>> plan.mesh_axes("mlp"), plan.mesh_axes("embed")
            (('data', 'model'), ())
        """
        return () if logical is None else self._axes.get(logical, ())

    def has_rule(self, logical: str) -> bool:
        """True when the table has an entry (possibly ``None``) for ``logical``.

        Args:
            logical: A logical axis name.

        Returns:
            Whether ``logical`` is a key of the rules table.

        Example:
            >>> from torsh import distributed as dist
            >>> dist.tensor_parallel().has_rule("batch"), dist.tensor_parallel().has_rule("embed")
            (True, False)
        """
        return logical in self._axes

    def replace(self, **changes: Any) -> Plan:
        """A copy with ``rules``, ``fsdp``, ``fsdp_min_size`` or ``name`` changed.

        Args:
            **changes: New values of ``rules``, ``fsdp``, ``fsdp_min_size`` or ``name``.

        Returns:
            A new :class:`Plan`.

        Raises:
            MeshError: For an unknown field, or a new value :class:`Plan` rejects.

        Example:
            >>> from torsh import distributed as dist
            >>> dist.data_parallel().replace(fsdp="data", name="zero3")
            Plan({'batch': 'data'}, fsdp='data', name='zero3')
        """
        kwargs: dict[str, Any] = {
            "rules": self._rules,
            "fsdp": self.fsdp,
            "fsdp_min_size": self.fsdp_min_size,
            "name": self.name,
        }
        unknown = sorted(set(changes) - set(kwargs))
        if unknown:
            raise MeshError(f"Plan.replace: unknown field(s) {unknown}; fields are {sorted(kwargs)}")
        kwargs.update(changes)
        return Plan(kwargs.pop("rules"), **kwargs)

    def check_mesh(self, mesh: Mesh | AbstractMesh) -> None:
        """Raise :class:`MeshError` when the plan names a mesh axis the mesh does not have.

        Args:
            mesh: A ``Mesh`` or ``AbstractMesh``.

        Raises:
            MeshError: If a rule or the FSDP axis names an axis that ``mesh`` lacks.

        Example:
            >>> from torsh import distributed as dist
            >>> m = dist.mesh({"data": -1})
            >>> dist.fsdp("data").check_mesh(m)  # fine
            >>> try:
            ...     dist.tensor_parallel("model").check_mesh(m)
            ... except dist.MeshError as e:
            ...     print(str(e).split(";")[0])
            rules map 'mlp' -> 'model', but the mesh has no axis 'model'
        """
        known = set(mesh.axis_names)
        for logical, axes in self._axes.items():
            missing = [a for a in axes if a not in known]
            if missing:
                raise MeshError(
                    f"rules map {logical!r} -> {self._rules[logical]!r}, but the mesh has no axis "
                    f"{missing[0]!r}; mesh axes are {dict(mesh.shape)}"
                )
        if self.fsdp is not None and self.fsdp not in known:
            raise MeshError(
                f"{self.name}: FSDP axis {self.fsdp!r} is not an axis of the mesh {dict(mesh.shape)}"
            )

    def spec(
        self, path: str, shape: Sequence[int], names: Names | None, mesh: Mesh | AbstractMesh
    ) -> PartitionSpec:
        """The partition spec of one leaf (``path`` is only used in error messages).

        Args:
            path: The leaf's dotted path, for messages.
            shape: The leaf's global shape.
            names: One logical axis name (or None) per dimension; None for an unnamed leaf.
            mesh: The mesh (concrete or abstract).

        Returns:
            The ``PartitionSpec``.

        Raises:
            ShardingError: If ``names`` does not match the rank, a mesh axis would split two dimensions, or
                a dimension is not divisible by its mesh axes.
            MeshError: If a rule or the FSDP axis names an axis the mesh does not have.

        Example:
            >>> import torsh
            >>> from torsh import distributed as dist
            >>> m = dist.mesh({"data": -1})
            >>> dist.fsdp("data").spec("w", (m.size * 8, 5), ("mlp", "embed"), m)
            P('data', None)
        """
        shape = tuple(int(s) for s in shape)
        ndim = len(shape)
        where = f"leaf {path!r} with shape {shape}" if path else f"an array with shape {shape}"
        if names is None:
            names = (None,) * ndim
        names = tuple(names)
        if len(names) != ndim:
            raise ShardingError(
                f"{where}: {len(names)} logical axis names {names!r} given for {ndim} dimensions"
            )
        sizes = dict(mesh.shape)
        entries: list[tuple[str, ...]] = []
        used: dict[str, int] = {}
        for dim, logical in enumerate(names):
            axes = self.mesh_axes(logical)
            rule = self._rules.get(logical) if logical is not None else None  # for messages
            for ax in axes:
                if ax not in sizes:
                    raise MeshError(
                        f"{where}: rules map {logical!r} -> {rule!r}, but the mesh has no "
                        f"axis {ax!r}; mesh axes are {sizes}"
                    )
                if ax in used:
                    other = used[ax]
                    raise ShardingError(
                        f"{where}: mesh axis {ax!r} would split both dimension {other} ({names[other]!r}) "
                        f"and dimension {dim} ({logical!r}); a mesh axis can split one dimension only: "
                        "change the rules or the leaf's logical axis names"
                    )
                used[ax] = dim
            parts = math.prod(sizes[a] for a in axes)
            if shape[dim] % parts:
                detail = " x ".join(f"{a!r} ({sizes[a]})" for a in axes)
                raise ShardingError(
                    f"{where}: dimension {dim} ({logical!r}, size {shape[dim]}) is not divisible by mesh "
                    f"axis {detail}; the rules map {logical!r} -> {rule!r}"
                )
            entries.append(axes)
        if self.fsdp is not None and self.fsdp not in used and ndim:
            if self.fsdp not in sizes:
                raise MeshError(f"{self.name}: FSDP axis {self.fsdp!r} is not an axis of the mesh {sizes}")
            n = sizes[self.fsdp]
            if math.prod(shape) >= self.fsdp_min_size:
                free = [d for d in range(ndim) if not entries[d] and shape[d] % n == 0]
                if free:
                    best = max(free, key=lambda d: (shape[d], -d))
                    entries[best] = (self.fsdp,)
                else:  # e.g. a tensor-parallel bias: split its already split dimension further
                    split = [
                        d
                        for d in range(ndim)
                        if entries[d] and shape[d] % (n * math.prod(sizes[a] for a in entries[d])) == 0
                    ]
                    if split:
                        best = max(split, key=lambda d: (shape[d], -d))
                        entries[best] = entries[best] + (self.fsdp,)
        return PartitionSpec(*[None if not e else e[0] if len(e) == 1 else e for e in entries])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Plan)
            and self._axes == other._axes
            and (self.fsdp, self.fsdp_min_size) == (other.fsdp, other.fsdp_min_size)
        )

    def __hash__(self) -> int:
        return hash((tuple(sorted(self._axes.items())), self.fsdp, self.fsdp_min_size))

    def __repr__(self) -> str:
        extra = f", fsdp={self.fsdp!r}" if self.fsdp else ""
        extra += f", fsdp_min_size={self.fsdp_min_size}" if self.fsdp_min_size else ""
        return f"Plan({self._rules!r}{extra}, name={self.name!r})"


def as_plan(rules: Plan | Rules | None) -> Plan:
    """A :class:`Plan` from a plan, a rules dict, or ``None`` (everything replicated).

    Args:
        rules: A :class:`Plan` (returned as is), a rules dict, or None.

    Returns:
        The plan.

    Raises:
        MeshError: If ``rules`` is none of these, or the dict is not a valid rules table.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.as_plan({"batch": "data"})
        Plan({'batch': 'data'}, name='rules')
        >>> dist.as_plan(None)
        Plan({}, name='replicated')
    """
    if isinstance(rules, Plan):
        return rules
    if rules is None:
        return Plan({}, name="replicated")
    if isinstance(rules, Mapping):
        return Plan(rules)
    raise MeshError(
        "expected a rules dict (logical name -> mesh axis) or a torsh.distributed.Plan, "
        f"got {type(rules).__name__}"
    )


def data_parallel(axis: str = "data") -> Plan:
    """Data parallelism: the batch is split over ``axis``, parameters and optimizer state replicated.

    The counterpart of PyTorch's ``DistributedDataParallel``.

    Args:
        axis: The data mesh axis.

    Returns:
        A :class:`Plan` mapping ``"batch"`` to ``axis``.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.data_parallel().rules
        {'batch': 'data'}
    """
    return Plan({"batch": axis}, name=f"data_parallel({axis!r})")


def fsdp(axis: str = "data", rules: Rules | None = None, *, min_size: int = 0) -> Plan:
    """Fully sharded data parallelism (ZeRO-3, PyTorch's FSDP): everything split over ``axis``.

    Every parameter and optimizer-state leaf is split on its largest dimension divisible by the axis
    size. XLA gathers a layer's weight just before it is used and reduce-scatters its gradient, so each
    device holds ``1/N`` of the parameters and optimizer state between steps.

    Args:
        axis: The data mesh axis.
        rules: Extra rules applied first (e.g. tensor-parallel ones on another axis for FSDP × TP).
        min_size: Leaves with fewer elements stay replicated.

    Returns:
        A :class:`Plan` with ``fsdp=axis``.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.fsdp()
        Plan({'batch': 'data'}, fsdp='data', name="fsdp('data')")
    """
    return Plan(
        {"batch": axis, **dict(rules or {})}, fsdp=axis, fsdp_min_size=min_size, name=f"fsdp({axis!r})"
    )


def tensor_parallel(axis: str = "model", rules: Rules | None = None) -> Plan:
    """Megatron-style tensor parallelism: ``"mlp"``, ``"heads"`` and ``"vocab"`` split over ``axis``.

    The batch (``"batch": None``) and everything else are replicated. With a first MLP Linear named
    ``("mlp", "embed")`` and a second ``("embed", "mlp")`` this is column- then row-parallel: one
    all-reduce per MLP block. Attention projections named ``("heads", "embed")`` / ``("embed", "heads")``
    split the heads.

    Args:
        axis: The model mesh axis.
        rules: Extra rules, applied over the preset's.

    Returns:
        A :class:`Plan`.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.tensor_parallel().rules
        {'batch': None, 'mlp': 'model', 'heads': 'model', 'vocab': 'model'}
    """
    return Plan(
        {"batch": None, **{n: axis for n in MEGATRON_NAMES}, **dict(rules or {})},
        name=f"tensor_parallel({axis!r})",
    )


def data_model_parallel(
    data: str = "data", model: str = "model", *, fsdp: bool = False, rules: Rules | None = None
) -> Plan:
    """2-D parallelism: the batch over ``data``, Megatron tensor parallelism over ``model``.

    With ``fsdp=True`` parameters are also FSDP-split over ``data``.

    Args:
        data: The data mesh axis.
        model: The model mesh axis.
        fsdp: Also FSDP-split every leaf over ``data``.
        rules: Extra rules, applied over the preset's.

    Returns:
        A :class:`Plan`.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.data_model_parallel().rules
        {'batch': 'data', 'mlp': 'model', 'heads': 'model', 'vocab': 'model'}
        >>> dist.data_model_parallel(fsdp=True).fsdp
        'data'
    """
    table = {"batch": data, **{n: model for n in MEGATRON_NAMES}, **dict(rules or {})}
    name = f"data_model_parallel({data!r}, {model!r}{', fsdp=True' if fsdp else ''})"
    return Plan(table, fsdp=data if fsdp else None, name=name)
