"""Versioned SQL migrations of the device store (``client/``) and the server (``server/``)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def directory(kind: str) -> Path:
    """The folder of migrations for ``kind`` (``"client"`` or ``"server"``)."""
    if kind not in ("client", "server"):
        raise ValueError(f"unknown migration kind {kind!r}")
    return ROOT / kind
