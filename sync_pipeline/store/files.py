"""Files and folders the project writes are private to its user: folders 0700, files 0600.

Two layers, so that a write point someone adds later is still covered:

- :func:`restrict_umask` at every process start (the CLI, the Dagster code location, so every run worker):
  whatever the process creates afterwards (DuckDB ``COPY``, SQLite, exports, logs) is 0600 / 0700;
- explicit modes at the write points that matter (the warehouse, the operational store's SQLite file,
  archives, exports, key files), which hold even when a host process set a looser umask.

Object stores (``s3://`` …) have no modes: their access is the bucket's policy.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PRIVATE_UMASK = 0o077


def restrict_umask() -> int:
    """Make everything this process creates from now on private to its user; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: str | Path) -> Path:
    """``mkdir -p`` with mode 0700 for every folder it creates (existing folders are left as they are)."""
    p = Path(path)
    missing = []
    q = p
    while not q.exists() and q != q.parent:
        missing.append(q)
        q = q.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(d, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    return p


def private_file(path: str | Path) -> Path:
    """Set an existing file to 0600 (after a library wrote it under the process umask)."""
    p = Path(path)
    if p.exists():
        os.chmod(p, PRIVATE_FILE)
    return p


def write_private(path: str | Path, data: bytes | str) -> Path:
    """Write a file created 0600 from the start (never readable by others, not even for a moment)."""
    p = Path(path)
    private_dir(p.parent)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        os.write(fd, raw)
    finally:
        os.close(fd)
    return p


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///…`` URL (None for memory databases and other engines)."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split("://", 1)[-1]
    if not rest.startswith("/") or rest in ("/", "/:memory:"):
        return None
    return Path(rest[1:].split("?", 1)[0])
