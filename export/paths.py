"""Where the pack may write: target paths resolved (symbolic links followed) and confined to allowed roots."""

from __future__ import annotations

from pathlib import Path



def confine(path: str, roots: list[Path]) -> Path:
    """Return ``path`` resolved (symbolic links followed) when it lies inside one of ``roots``.

    Raises PermissionError naming the roots otherwise, or when no roots are configured.
    """
    if not roots:
        raise PermissionError("deploying is off: start the bridge with --project-root DIR (repeatable) to allow "
                              "writing into the Bevy projects under DIR")
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    resolved = candidate.resolve()
    for root in roots:
        root = root.resolve()
        if resolved == root or root in resolved.parents:
            return resolved
    raise PermissionError(f"{path!r} resolves to {resolved}, outside the configured project roots "
                          f"({', '.join(str(r) for r in roots)}); deploy only into a project under one of them")

