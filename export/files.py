"""Single files the pack writes for a user (downloaded outputs, pixelized PNGs): written beside the target under a
temporary name, fsynced, given the user's normal mode, then renamed over it, so a kill leaves the old file or the
new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def normal_mode() -> int:
    """Return 0666 less this process's umask: the mode any program gives a file it creates (0644 under 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_file_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically with the normal mode; return the path. Raises OSError."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".dgxtmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, normal_mode())  # mkstemp creates 0600, which hides the file from the user's other tools
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
