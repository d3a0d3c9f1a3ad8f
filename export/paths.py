"""Where the pack may write: target paths resolved (every symbolic link followed) and confined to allowed roots.

Nodes may write under ComfyUI's output folder and under the folders listed in ``$DGX_PIXELS_ALLOWED_ROOTS``
(separated by ``os.pathsep``, ``:`` on Linux); the MCP bridge under its ``--project-root`` folders plus the same
variable. Everything else is refused before any work is done.
"""

from __future__ import annotations

import os
from pathlib import Path

ALLOWED_ROOTS_ENV = "DGX_PIXELS_ALLOWED_ROOTS"


def configured_roots(environ: dict[str, str] | None = None) -> list[Path]:
    """Return the folders listed in ``$DGX_PIXELS_ALLOWED_ROOTS``, resolved (missing ones kept as written)."""
    text = (os.environ if environ is None else environ).get(ALLOWED_ROOTS_ENV, "")
    return [Path(part).expanduser().resolve() for part in text.split(os.pathsep) if part.strip()]


def node_write_roots(output_dir: str | Path, environ: dict[str, str] | None = None) -> list[Path]:
    """Return where a node may write: ComfyUI's output folder first, then the configured roots."""
    return [Path(output_dir).resolve(), *configured_roots(environ)]


def inside_roots(path: str | Path, roots: list[Path]) -> Path | None:
    """Return ``path`` fully resolved when it lies in (or is) one of ``roots``, else None."""
    resolved = Path(path).expanduser().resolve()
    for root in roots:
        root = root.resolve()
        if resolved == root or root in resolved.parents:
            return resolved
    return None


def check_node_target(path: str, output_dir: str | Path, what: str) -> Path:
    """Return ``path`` resolved when a node may write there; raise PermissionError naming ``what`` otherwise.

    A relative path is taken inside ComfyUI's output folder.
    """
    roots = node_write_roots(output_dir)
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    resolved = inside_roots(candidate, roots)
    if resolved is None:
        raise PermissionError(
            f"{what} {path!r} is outside the folders DGX-Pixels may write to ({', '.join(map(str, roots))}); "
            f"add its folder to ${ALLOWED_ROOTS_ENV} (separated by '{os.pathsep}') and restart ComfyUI")
    return resolved


def confine(path: str, roots: list[Path]) -> Path:
    """Return ``path`` resolved (symbolic links followed) when it lies inside one of ``roots`` (relative paths are
    taken inside the first root).

    Raises PermissionError naming the roots otherwise, or when no roots are configured.
    """
    if not roots:
        raise PermissionError("deploying is off: start the bridge with --project-root DIR (repeatable) or set "
                              f"${ALLOWED_ROOTS_ENV} to allow writing into the Bevy projects under those folders")
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    resolved = inside_roots(candidate, roots)
    if resolved is None:
        raise PermissionError(f"{path!r} resolves to {candidate.resolve()}, outside the configured project roots "
                              f"({', '.join(str(r) for r in roots)}); deploy only into a project under one of them")
    return resolved
