"""``.aseprite`` files on disk: written atomically (``files.write_file_atomic``), read back with a size limit.

The bytes themselves are ``ops.aseprite``'s; this module only opens, bounds and names files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..ops.aseprite import AsepriteDocument, aseprite_bytes, read_aseprite
from ..ops.sheet import SpriteSheet
from .files import write_file_atomic

ASEPRITE_SUFFIXES: tuple[str, ...] = (".aseprite", ".ase")
MAX_ASEPRITE_FILE_BYTES = 64 * 1024 * 1024
"""A 4096² RGBA sprite of a few hundred frames compresses far below this; more is not a sprite we can use."""


def is_aseprite_path(path: str | os.PathLike) -> bool:
    """Return True when ``path`` ends in ``.aseprite`` or ``.ase`` (any case)."""
    return Path(path).suffix.lower() in ASEPRITE_SUFFIXES


def write_aseprite_file(
    sheet: SpriteSheet,
    path: str | os.PathLike,
    palette: Any = None,
    metadata: Mapping[str, Any] | None = None,
    *,
    layer: str = "sprite",
) -> Path:
    """Write ``sheet`` as an ``.aseprite`` file at ``path`` (atomically; the folder must exist); return the path.

    Raises ValueError for what ``ops.aseprite.aseprite_bytes`` refuses or a path without an Aseprite suffix, and
    OSError from the file system.
    """
    path = Path(path)
    if not is_aseprite_path(path):
        raise ValueError(f"{path.name}: an Aseprite file name ends in .aseprite or .ase")
    return write_file_atomic(path, aseprite_bytes(sheet, palette, metadata, layer=layer))


def read_aseprite_bytes_from(path: str | os.PathLike) -> bytes:
    """Return the bytes of the Aseprite file at ``path``.

    Raises ValueError naming the file when it is missing, not a regular file, or over MAX_ASEPRITE_FILE_BYTES.
    """
    path = Path(path)
    try:
        # O_NONBLOCK: a FIFO without a writer must not hang the caller; fstat then says what was opened.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ValueError(f"cannot read Aseprite file {str(path)!r}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"Aseprite file {str(path)!r} is not a regular file")
        if info.st_size > MAX_ASEPRITE_FILE_BYTES:
            raise ValueError(f"Aseprite file {str(path)!r} is {info.st_size} bytes; the limit is "
                             f"{MAX_ASEPRITE_FILE_BYTES}")
        return handle.read(MAX_ASEPRITE_FILE_BYTES + 1)


def read_aseprite_file(path: str | os.PathLike) -> AsepriteDocument:
    """Return the :class:`ops.aseprite.AsepriteDocument` of the file at ``path``.

    Raises ValueError naming the file when it cannot be read or is no well-formed Aseprite file.
    """
    data = read_aseprite_bytes_from(path)
    try:
        return read_aseprite(data)
    except ValueError as exc:
        raise ValueError(f"{Path(path).name}: {exc}") from None
