"""Comparing numbers that pass through BLAS/LAPACK or a reduction: never with ``==``.

OpenBLAS picks its kernels per CPU (SkylakeX, Haswell, Zen ...), so a dot product or a
correlation can differ in its last bits from one machine to another. :func:`assert_tree_close`
compares nested results (dicts, lists, numbers, strings) with exact equality for everything
but floats, and a relative tolerance for floats.
"""

from __future__ import annotations

import math
from typing import Any


def tree_differences(got: Any, want: Any, *, rtol: float = 1e-12, atol: float = 0.0,
                     path: str = "") -> list[str]:
    """Where two nested structures differ: keys, lengths, types, texts, or floats beyond
    ``rtol`` (relative) / ``atol`` (absolute). Integers and booleans compare exactly."""
    out: list[str] = []
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path or '/'}: {type(got).__name__} instead of a dict"]
        for k in sorted(set(got) | set(want), key=str):
            if k not in got or k not in want:
                out.append(f"{path}/{k}: only in {'got' if k in got else 'want'}")
            else:
                out += tree_differences(got[k], want[k], rtol=rtol, atol=atol, path=f"{path}/{k}")
        return out
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            return [f"{path or '/'}: {len(got) if isinstance(got, (list, tuple)) else got!r} "
                    f"items instead of {len(want)}"]
        for i, (g, w) in enumerate(zip(got, want)):
            out += tree_differences(g, w, rtol=rtol, atol=atol, path=f"{path}[{i}]")
        return out
    if isinstance(want, float) or isinstance(got, float):
        if isinstance(got, bool) or isinstance(want, bool) or not isinstance(got, (int, float)) \
                or not isinstance(want, (int, float)):
            return [f"{path}: {got!r} vs {want!r}"]
        if math.isnan(want) and math.isnan(got):
            return []
        if not math.isclose(got, want, rel_tol=rtol, abs_tol=atol):
            return [f"{path}: {got!r} vs {want!r}"]
        return []
    if got != want or type(got) is not type(want):
        return [f"{path}: {got!r} vs {want!r}"]
    return []


def assert_tree_close(got: Any, want: Any, *, rtol: float = 1e-12, atol: float = 0.0) -> None:
    diffs = tree_differences(got, want, rtol=rtol, atol=atol)
    assert not diffs, "\n".join(diffs[:20]) + (f"\n... {len(diffs)} differences" if len(diffs) > 20 else "")
