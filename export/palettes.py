"""Palette files read from disk: only regular files of a sane size, parsed by ``ops.palette.parse_palette``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..ops.palette import Palette, parse_palette

MAX_PALETTE_FILE_BYTES = 1 << 20
"""A 256-colour .gpl is under 8 KiB and a PNG strip a few KiB; 1 MiB leaves room for comments and big images."""


def load_palette_file(path: str | Path) -> Palette:
    """Return the Palette stored at ``path``.

    Raises ValueError when it is not a regular file (a named pipe or a device would block the engine), is larger
    than MAX_PALETTE_FILE_BYTES, cannot be read, or holds no colours or more than a palette may.
    """
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not hang; fstat then tells what was opened.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ValueError(f"cannot read palette file {str(path)!r}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ValueError(f"palette file {str(path)!r} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > MAX_PALETTE_FILE_BYTES:
            raise ValueError(f"palette file {str(path)!r} is {info.st_size} bytes; the limit is "
                             f"{MAX_PALETTE_FILE_BYTES} (a palette holds at most 256 colours)")
        data = handle.read(MAX_PALETTE_FILE_BYTES + 1)
    return parse_palette(data, path.name)
