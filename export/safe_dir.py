"""Folders the pack writes into, opened without following a symbolic link at any step, and the file names it may
create there. Every write, rename and delete of an export goes through a ``SafeDir``, so none can land outside the
root the walk started from (see docs/safety.md)."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

NAME_MAX_BYTES = 255  # PC_NAME_MAX of ext4, btrfs, xfs, NTFS (UTF-16 units there, never fewer than UTF-8 bytes)
TMP_SUFFIX = ".dgxtmp"
_BAD_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³])\s*(\..*)?$", re.IGNORECASE)
# dir_fd operations make the no-follow walk race-free; without them (Windows) each step is checked, then used.
_HAVE_DIR_FD = (
    {os.open, os.mkdir, os.unlink, os.rmdir, os.rename, os.stat} <= os.supports_dir_fd and os.listdir in os.supports_fd
)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
BINARY = getattr(os, "O_BINARY", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | NOFOLLOW


def check_file_name(label: str, name: str, added: str = "") -> None:
    """Return None when ``name`` is a portable file name that stays within 255 bytes with ``added`` appended (and
    a temp file's ``.NAME.dgxtmp`` around it); raise one ValueError naming ``label`` otherwise: separators, NUL and
    control characters, ``<>:"|?*``, Windows device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with or without an
    extension), a leading or trailing dot or space, '.'/'..', or too many bytes."""
    shown = name if len(name) <= 40 else name[:37] + "..."
    if "/" in name or "\\" in name or os.sep in name:
        raise ValueError(f"{label} {shown!r} must be a plain file name without path separators")
    if name in ("", ".", ".."):
        raise ValueError(f"{label} {name!r} is not a file name")
    bad = _BAD_CHARS.search(name)
    if bad:
        raise ValueError(f"{label} {shown!r} contains {bad.group()!r}, which file names may not hold (control "
                         "characters, NUL and <>:\"|?* are refused so the files also work on Windows)")
    if name[0] in ". " or name[-1] in ". ":
        raise ValueError(f"{label} {shown!r} starts or ends with a dot or a space; Windows drops or hides those")
    if _WINDOWS_RESERVED.match(name):
        raise ValueError(f"{label} {shown!r} is a Windows device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9); "
                         "choose another")
    longest = f".{name}{added}{TMP_SUFFIX}"
    size = len(longest.encode("utf-8", "surrogateescape"))
    if size > NAME_MAX_BYTES:
        raise ValueError(f"{label} {shown!r} is too long: its file {name}{added} (as the temporary {longest[:12]}…) "
                         f"takes {size} bytes, over the {NAME_MAX_BYTES}-byte limit of a file name; shorten it by "
                         f"{size - NAME_MAX_BYTES} bytes")


class SafeDir:
    """One folder, opened without following a symbolic link at any step below the root it was reached from; every
    operation names an entry of this folder only, so nothing it does can land outside that root."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def root(cls, path: str | os.PathLike, label: str = "project") -> SafeDir:
        """Return the root folder (the user chose it, so links leading to it are theirs); raises ValueError naming
        ``label`` when it is not a folder."""
        path = Path(path)
        if not path.is_dir():
            raise ValueError(f"{label}: {path} does not exist or is not a folder")
        return cls(path, os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if _HAVE_DIR_FD else None)

    def __enter__(self) -> SafeDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def entry(self, name: str) -> tuple[str, dict]:
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise ValueError(f"{self.path}: {name!r} is not a plain entry name")
        return (name, {"dir_fd": self.fd}) if self.fd is not None else (str(self.path / name), {})

    def child(self, name: str, *, create: bool = False) -> SafeDir:
        """Return the sub-folder ``name`` (made first when ``create``); raises FileNotFoundError when it is missing
        and ValueError when it is a symbolic link or not a folder."""
        at, kw = self.entry(name)
        path = self.path / name
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(at, 0o777, **kw)
        st = self.lstat(name)
        if st is None:
            raise FileNotFoundError(f"{path} does not exist")
        if stat.S_ISLNK(st.st_mode):
            raise ValueError(f"{path} is a symbolic link; DGX-Pixels never writes or deletes through links")
        if not stat.S_ISDIR(st.st_mode):
            raise ValueError(f"{path} exists and is not a folder")
        if self.fd is None:
            return SafeDir(path, None)
        try:
            return SafeDir(path, os.open(name, _DIR_FLAGS, dir_fd=self.fd))
        except OSError:  # swapped for a link or a file since the lstat: refuse, never follow
            raise ValueError(f"{path} changed into a symbolic link or file while opening it; refusing") from None

    def walk(self, parts: Sequence[str], *, create: bool = False) -> SafeDir:
        """Return the folder ``parts`` below this one (see ``child``)."""
        here = SafeDir(self.path, os.dup(self.fd) if self.fd is not None else None)
        for part in parts:
            try:
                nxt = here.child(part, create=create)
            finally:
                here.close()
            here = nxt
        return here

    def lstat(self, name: str) -> os.stat_result | None:
        at, kw = self.entry(name)
        try:
            return os.stat(at, follow_symlinks=False, **kw)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def is_file(self, name: str) -> bool:
        st = self.lstat(name)
        return st is not None and stat.S_ISREG(st.st_mode)

    def names(self) -> list[str]:
        return sorted(os.listdir(self.fd if self.fd is not None else self.path))

    def read(self, name: str) -> bytes:
        at, kw = self.entry(name)
        with open(os.open(at, os.O_RDONLY | NOFOLLOW | BINARY, **kw), "rb") as fh:
            return fh.read()

    def create(self, name: str, data: bytes) -> None:
        """Write a new file (mode 0666 less the umask, like any file the user makes), fsynced; a leftover file or
        link of that name (a temp name of ours) is replaced, never written through."""
        self.unlink(name)
        at, kw = self.entry(name)
        fd = os.open(at, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | BINARY, 0o666, **kw)
        with open(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def write_atomic(self, name: str, data: bytes) -> None:
        tmp = tmp_name(name)
        self.create(tmp, data)
        self.replace(tmp, name)
        self.fsync()

    def replace(self, src: str, dst: str) -> None:
        (a, _), (b, _) = self.entry(src), self.entry(dst)
        if self.fd is not None:
            os.replace(a, b, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        else:
            os.replace(a, b)

    def unlink(self, name: str) -> bool:
        """Remove a file or link (never a folder, never a link's target); return whether one was there."""
        st = self.lstat(name)
        if st is None or stat.S_ISDIR(st.st_mode):
            return False
        at, kw = self.entry(name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(at, **kw)
        return True

    def mkdir_new(self, name: str) -> None:
        """Make the folder ``name``; raises FileExistsError when anything of that name is there."""
        at, kw = self.entry(name)
        os.mkdir(at, 0o777, **kw)

    def rmdir_if_empty(self, name: str) -> None:
        at, kw = self.entry(name)
        with contextlib.suppress(OSError):  # not empty (someone else's files) or gone: leave it
            os.rmdir(at, **kw)

    def fsync(self) -> None:
        # Directory entries reach the disk only with an fsync of the folder itself (fsync(2)).
        if self.fd is not None:
            os.fsync(self.fd)


def tmp_name(name: str) -> str:
    """Return the temporary name a file is written under beside ``name`` before it is renamed over it."""
    return f".{name}{TMP_SUFFIX}"
