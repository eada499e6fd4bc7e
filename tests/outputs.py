"""What a run leaves in a study folder, for tests that promise outputs are left intact."""

from __future__ import annotations

from pathlib import Path


def output_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under reports/ and data/processed/, by path relative to ``folder``."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for d in ("reports", "data/processed") for p in (folder / d).rglob("*") if p.is_file()}
