"""The one export writer: a sprite sheet into ``<bevy project>/assets/<subdir>/<asset>/``, safely.

Order of work: validate everything (names, paths, images, manifest) → plan the files in memory → back up the
previous version → write each file to a temporary name in the same folder and ``os.replace`` it over the target
(every PNG page first, metadata after, the project manifest last; pages an earlier, larger export left
are removed only then). A Bevy file watcher therefore never sees a
half-written file, and a crash leaves either the old or the new version of each file. Nothing is written when a check fails,
and nothing at all on a dry run. Exports into one project take turns under a file lock
(``.dgx-pixels/export.lock``), so concurrent writers never lose each other's manifest entries.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..ops.export_formats import EXTRAS_KEY, aseprite_json_text, assets_ron, atlas_ron, page_image_names, sheet_from_aseprite
from ..ops.sheet import SpriteSheet

CATEGORIES: tuple[str, ...] = (
    "character", "enemy", "npc", "item", "tile", "ui", "effect", "projectile", "environment", "background",
)
MIN_SIDE_PX = 16
MAX_SIDE_PX = 4096
MAX_PNG_BYTES = 10 * 1024 * 1024
KEEP_BACKUPS = 5
MANIFEST_NAME = "manifest.json"
LOCK_PATH = ".dgx-pixels/export.lock"
LOCK_TIMEOUT_S = 60.0
BACKUP_DIR = ".dgx-pixels/backups"
_TMP_SUFFIX = ".dgxtmp"
_PART = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SUBDIR_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class ExportReport:
    """What an export wrote (or, on a dry run, would write), with the checks' errors and warnings."""

    asset_name: str
    target_dir: Path
    files: list[tuple[Path, int]] = field(default_factory=list)
    manifest_path: Path | None = None
    backup_dir: Path | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False

    def summary(self) -> str:
        """Return a few human lines: what was (or would be) written, backups, warnings."""
        verb = "would write" if self.dry_run else ("wrote" if self.written else "did not write")
        lines = [f"{self.asset_name}: {verb} {len(self.files)} files in {self.target_dir}"]
        lines += [f"  {p.name} ({n} bytes)" for p, n in self.files]
        if self.manifest_path is not None:
            lines.append(f"  manifest: {self.manifest_path}")
        if self.backup_dir is not None:
            lines.append(f"  previous version {'to be ' if self.dry_run else ''}backed up in {self.backup_dir}")
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def asset_name_for(category: str, name: str, variant: str) -> str:
    """Return the seed's ``{category}_{name}_{variant}`` asset name; raises ValueError naming the bad part."""
    if category not in CATEGORIES:
        raise ValueError(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    for label, part in (("name", name), ("variant", variant)):
        if "/" in part or "\\" in part or os.sep in part:
            raise ValueError(f"{label} {part!r} contains a path separator; give a plain name like 'knight'")
        if not _PART.match(part):
            raise ValueError(
                f"{label} {part!r} must be lowercase letters/digits with single '-' between words (e.g. 'red-slime'); "
                "'_' separates category, name and variant"
            )
    return f"{category}_{name}_{variant}"


def split_asset_name(asset_name: str) -> tuple[str, str, str]:
    """Return (category, name, variant) of ``{category}_{name}_{variant}``; raises ValueError for other names."""
    parts = asset_name.split("_")
    if len(parts) != 3:
        raise ValueError(
            f"asset name {asset_name!r} must look like category_name_variant (e.g. character_knight_base)"
        )
    asset_name_for(*parts)
    return parts[0], parts[1], parts[2]


def _check_subdir(subdir: str) -> list[str]:
    if subdir in ("", "."):
        return []
    if os.path.isabs(subdir) or subdir.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", subdir):
        raise ValueError(f"subdir {subdir!r} is absolute; give a folder relative to assets/, e.g. 'sprites'")
    parts = subdir.replace("\\", "/").split("/")
    for part in parts:
        if part == "..":
            raise ValueError(f"subdir {subdir!r} climbs out with '..'; it must stay inside assets/")
        if not _SUBDIR_PART.match(part):
            raise ValueError(
                f"subdir {subdir!r}: part {part!r} is not a plain folder name (letters, digits, '_', '-', '.')"
            )
    return parts


def resolve_target(project_dir: str | os.PathLike, subdir: str, asset_name: str) -> tuple[Path, Path]:
    """Return (assets root, target folder) for an export, refusing anything that could land outside assets/.

    Raises ValueError when the project folder is missing or not writable, ``subdir`` is absolute or has '..',
    ``asset_name`` has a path separator, or any existing folder on the way (assets/ included) is a symlink or a
    file. Creates nothing.
    """
    project = Path(project_dir)
    if not str(project_dir):
        raise ValueError("project: no Bevy project folder given")
    if not project.is_dir():
        raise ValueError(f"project: {project} does not exist or is not a folder; give the Bevy project's root")
    if not os.access(project, os.W_OK | os.X_OK):
        raise ValueError(f"project: {project} is not writable")
    if not asset_name or "/" in asset_name or "\\" in asset_name or asset_name in (".", ".."):
        raise ValueError(f"name {asset_name!r} must be a plain file name without path separators")
    parts = _check_subdir(subdir)
    assets = project / "assets"
    chain = [assets]
    for part in [*parts, asset_name]:
        chain.append(chain[-1] / part)
    for step in chain:
        if step.is_symlink():
            raise ValueError(f"{step} is a symbolic link; exports never follow links out of assets/")
        if step.exists() and not step.is_dir():
            raise ValueError(f"{step} exists and is not a folder")
    if assets.exists() and not os.access(assets, os.W_OK | os.X_OK):
        raise ValueError(f"{assets} is not writable")
    real_assets = assets.resolve()
    target = chain[-1]
    if not str(target.resolve()).startswith(str(real_assets) + os.sep):
        raise ValueError(f"{target} resolves outside {real_assets}")
    return assets, target


def validate_png_bytes(data: bytes, label: str) -> tuple[list[str], list[str]]:
    """Return (errors, warnings) of the seed's asset checks for encoded image ``data``: PNG, RGBA/RGB,
    16-4096 px a side, at most 10 MB; a side that is not a power of two is a warning."""
    errors: list[str] = []
    warnings: list[str] = []
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return [f"{label}: not a PNG file"], warnings
    if len(data) > MAX_PNG_BYTES:
        errors.append(f"{label}: {len(data) / 1e6:.1f} MB, over the 10 MB limit; split the sheet")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            w, h, mode = img.width, img.height, img.mode
    except Exception as exc:  # PIL raises many types for broken files
        return [f"{label}: cannot be decoded ({exc})"], warnings
    if mode not in ("RGBA", "RGB"):
        errors.append(f"{label}: colour mode {mode}; use RGBA (or RGB)")
    for side, value in (("width", w), ("height", h)):
        if not MIN_SIDE_PX <= value <= MAX_SIDE_PX:
            errors.append(
                f"{label}: {side} {value} px is outside {MIN_SIDE_PX}-{MAX_SIDE_PX}; "
                "use bigger frames, padding or a grid with more cells" if value < MIN_SIDE_PX else
                f"{label}: {side} {value} px is outside {MIN_SIDE_PX}-{MAX_SIDE_PX}; lower max_size"
            )
        elif value & (value - 1):
            warnings.append(f"{label}: {side} {value} px is not a power of two (fine for Bevy, slower on old GPUs)")
    return errors, warnings


def encode_png(rgba: np.ndarray) -> bytes:
    """Return the RGBA8 PNG encoding of an H×W×4 uint8 array (deterministic, no timestamps)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8), "RGBA").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _remove_stale_temps(folder: Path) -> None:
    if folder.is_dir():
        for leftover in folder.glob(f".*{_TMP_SUFFIX}"):
            if leftover.is_file() and not leftover.is_symlink():
                leftover.unlink()


def sheet_files(sheet: SpriteSheet, asset_name: str, image_path: str) -> list[tuple[str, bytes]]:
    """Return [(file name, bytes)] of a sheet in write order: every atlas page as PNG (``NAME.png``, then
    ``NAME_1.png``, ``NAME_2.png``… for further pages), the Aseprite JSON, the .atlas.ron, and .assets.ron for grid
    sheets. ``image_path`` is the first PNG's path relative to assets/ (for .assets.ron)."""
    png = f"{asset_name}.png"
    files = [(name, encode_png(page)) for name, page in zip(page_image_names(png, len(sheet.pages)), sheet.pages)]
    files += [
        (f"{asset_name}.json", aseprite_json_text(sheet, png).encode()),
        (f"{asset_name}.atlas.ron", atlas_ron(sheet, png).encode()),
    ]
    if sheet.grid is not None:
        files.append((f"{asset_name}.assets.ron", assets_ron(sheet, image_path, asset_name).encode()))
    return files


def _stale_pages(folder: Path, asset_name: str, keep: int) -> list[Path]:
    """Return the ``<asset>_<p>.png`` page files in ``folder`` with ``p`` >= ``keep`` (left by an earlier export
    that had more pages)."""
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(asset_name)}_(\d+)\.png$")
    out = []
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if match and int(match.group(1)) >= keep and path.is_file() and not path.is_symlink():
            out.append(path)
    return out


def read_sheet_dir(json_path: str | os.PathLike) -> SpriteSheet:
    """Return the sheet that ``write_sheet_dir`` (or an export) stored as ``NAME.json`` with its page PNGs beside it.

    Raises ValueError naming the file when the JSON or a page image is missing or unreadable.
    """
    json_path = Path(json_path)
    try:
        doc = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{json_path.name} is not a sheet's JSON: {exc}") from None
    pages_meta = (doc.get("meta", {}).get(EXTRAS_KEY) or {}).get("pages") or [{"image": json_path.stem + ".png"}]
    pages = []
    for page in pages_meta:
        image_path = json_path.parent / Path(str(page.get("image", ""))).name  # never outside the sheet's folder
        try:
            with Image.open(image_path) as image:
                pages.append(np.asarray(image.convert("RGBA")))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{json_path.name}: page image {image_path.name} cannot be read ({exc})") from None
    return sheet_from_aseprite(doc, pages)


def write_sheet_dir(sheet: SpriteSheet, out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Write NAME.png (and NAME_1.png… for further pages), NAME.json, NAME.atlas.ron (and NAME.assets.ron for
    grids) atomically into ``out_dir`` (created if missing), PNGs first; return the paths. Raises ValueError, before
    anything is written, for a name with path separators or when a page file would overwrite another sheet's atlas
    (``NAME_1.json`` already beside it)."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"name {name!r} must be a plain file name without path separators")
    files = sheet_files(sheet, name, f"{name}.png")
    folder = Path(out_dir)
    for p in range(1, len(sheet.pages)):
        if (folder / f"{name}_{p}.json").exists():
            raise ValueError(
                f"page {p} of sheet {name!r} would overwrite {name}_{p}.png of the sheet {name}_{p} in {folder}; "
                "choose another name or folder"
            )
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(folder)
    paths = []
    for file_name, data in files:
        _atomic_write(folder / file_name, data)
        paths.append(folder / file_name)
    return paths


def _load_manifest(path: Path) -> dict:
    if not path.exists():
        return {"version": 1, "assets": {}}
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link; refusing to write through it")
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix or move it, then export again") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("assets"), dict):
        raise ValueError(f"{path} is not a DGX-Pixels manifest (needs an 'assets' object)")
    return doc


def _next_backup(root: Path) -> Path:
    numbers = [int(p.name) for p in root.iterdir() if p.name.isdigit()] if root.is_dir() else []
    return root / f"{(max(numbers) + 1) if numbers else 1:06d}"


def export_to_bevy(
    sheet: SpriteSheet,
    project_dir: str | os.PathLike,
    *,
    category: str,
    name: str,
    variant: str = "base",
    subdir: str = "sprites",
    dry_run: bool = False,
    keep_backups: int = KEEP_BACKUPS,
    strict: bool = True,
) -> ExportReport:
    """Export ``sheet`` into ``<project_dir>/assets/<subdir>/<category>_<name>_<variant>/`` and index it in
    ``assets/manifest.json``; return the report (``dry_run`` writes nothing and reports the plan).

    Raises ValueError before writing anything when a name, the category, a path, the manifest or a validation
    check fails (with ``strict``; otherwise failed checks are listed in ``report.errors`` and nothing is written).
    """
    asset_name = asset_name_for(category, name, variant)
    assets, target = resolve_target(project_dir, subdir, asset_name)
    rel_dir = "/".join([*_check_subdir(subdir), asset_name])
    files = sheet_files(sheet, asset_name, f"{rel_dir}/{asset_name}.png")
    report = ExportReport(asset_name=asset_name, target_dir=target, dry_run=dry_run)
    png_files = files[: len(sheet.pages)]
    for file_name, data in png_files:
        errors, warnings = validate_png_bytes(data, file_name)
        report.errors += errors
        report.warnings += warnings
    manifest_path = assets / MANIFEST_NAME
    _load_manifest(manifest_path)  # a broken manifest refuses the export before anything is written
    for file_name, _ in files:
        if (target / file_name).is_symlink():
            report.errors.append(f"{target / file_name} is a symbolic link; remove it first")
    if report.errors:
        if strict:
            raise ValueError("export refused: " + "; ".join(report.errors))
        return report
    w, h = sheet.size
    entry = {
        "name": asset_name,
        "path": f"{rel_dir}/{asset_name}.png",
        "category": category,
        "variant": variant,
        "frames": len(sheet.frames),
        "resolution": [w, h],
        "files": [f"{rel_dir}/{n}" for n, _ in files],
        "pages": [f"{rel_dir}/{n}" for n, _ in png_files],
        "animations": [t.name for t in sheet.tags],
        "layout": sheet.options.layout,
    }
    report.files = [(target / n, len(d)) for n, d in files]
    report.manifest_path = manifest_path
    backup_root = Path(project_dir) / BACKUP_DIR / asset_name
    if dry_run:
        if _replaced(target, asset_name, files, len(sheet.pages)):
            report.backup_dir = _next_backup(backup_root)
        return report
    with project_lock(project_dir):
        _write_export(report, files, entry, len(sheet.pages), backup_root, project_dir, subdir, keep_backups)
    return report


def _write_export(report: ExportReport, files: list[tuple[str, bytes]], entry: dict, pages: int, backup_root: Path,
                  project_dir: str | os.PathLike, subdir: str, keep_backups: int) -> None:
    """The writing half of ``export_to_bevy``, run under the project lock so concurrent exports into one project
    neither lose each other's manifest entries nor share a backup folder."""
    asset_name, target, manifest_path = report.asset_name, report.target_dir, report.manifest_path
    assets = manifest_path.parent
    manifest = _load_manifest(manifest_path)  # read again under the lock: another export may have added to it
    manifest["assets"][asset_name] = entry
    manifest["assets"] = dict(sorted(manifest["assets"].items()))
    manifest_bytes = (json.dumps(manifest, indent=1) + "\n").encode()
    stale = _stale_pages(target, asset_name, pages)
    existing = _replaced(target, asset_name, files, pages)
    if existing:
        report.backup_dir = _next_backup(backup_root)
    target.mkdir(parents=True, exist_ok=True)
    # Checked again after creating folders: a link planted meanwhile must not be followed.
    resolve_target(project_dir, subdir, asset_name)
    _remove_stale_temps(target)
    if existing and report.backup_dir is not None:
        report.backup_dir.mkdir(parents=True, exist_ok=False)
        for path in existing:
            shutil.copy2(path, report.backup_dir / path.name)
        _prune_backups(backup_root, keep_backups)
    for file_name, data in files:
        _atomic_write(target / file_name, data)
    _remove_stale_temps(assets)
    _atomic_write(manifest_path, manifest_bytes)
    # Pages of an earlier, larger export: referenced by neither the metadata nor the manifest just written (and
    # backed up). Removed last, so a crash before this point never leaves the manifest naming a missing page.
    for path in stale:
        path.unlink()
    report.written = True


def _replaced(target: Path, asset_name: str, files: list[tuple[str, bytes]], pages: int) -> list[Path]:
    """The files an export of ``files`` (``pages`` PNG pages) would replace or remove: what the backup holds."""
    return [target / n for n, _ in files if (target / n).exists()] + _stale_pages(target, asset_name, pages)


@contextlib.contextmanager
def project_lock(project_dir: str | os.PathLike, timeout_s: float = LOCK_TIMEOUT_S):
    """Hold the export lock of a Bevy project (an OS file lock in ``.dgx-pixels/``, released even when the process
    dies); raise TimeoutError naming the project when another export keeps it longer than ``timeout_s``."""
    lock_path = Path(project_dir) / LOCK_PATH
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    if lock_path.is_symlink():
        raise ValueError(f"{lock_path} is a symbolic link; refusing to use it")
    with open(lock_path, "a+b") as handle:
        deadline = time.monotonic() + timeout_s
        while not _try_lock(handle):
            if time.monotonic() > deadline:
                raise TimeoutError(f"another export into {project_dir} has held its lock ({lock_path}) for over "
                                   f"{timeout_s:.0f} s; try again when it has finished")
            time.sleep(0.05)
        try:
            yield
        finally:
            _unlock(handle)


def _try_lock(handle) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(handle) -> None:
    if os.name == "nt":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _prune_backups(root: Path, keep: int) -> None:
    numbered = sorted((p for p in root.iterdir() if p.name.isdigit() and p.is_dir()), key=lambda p: int(p.name))
    for old in numbered[: max(0, len(numbered) - keep)]:
        shutil.rmtree(old)


def list_backups(project_dir: str | os.PathLike, asset_name: str) -> Sequence[Path]:
    """Return the backup folders of ``asset_name`` in the project, oldest first (empty when none)."""
    root = Path(project_dir) / BACKUP_DIR / asset_name
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
