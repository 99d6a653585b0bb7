"""Human-readable sizes for reports (``torsh inspect``, sharding descriptions, ``explain()``)."""

from __future__ import annotations


def byte_size(n: float) -> str:
    """``n`` bytes as ``"512 B"``, ``"1.5 KiB"``, ... up to GiB (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
