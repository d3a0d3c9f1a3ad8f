"""The one export writer: a sprite sheet into ``<bevy project>/assets/<subdir>/<asset>/``, safely.

Order of work: validate everything (names, byte lengths, paths, images, manifest) → plan the files in memory →
under the project lock (``.dgx-pixels/export.lock``) finish any export a crash interrupted → one transaction:
a journal (``.dgx-pixels/journal.json``) names every temporary file before it exists, each new file is written
beside its target under a temporary name, the previous version is copied into a backup, then the journal is
switched to "commit" with one atomic rename (the commit point) and the temporary files are renamed over their
targets (PNG pages first, metadata next, the project manifest last, files of an earlier export it does not rewrite removed at
the end). Recovery rolls a committed journal forward and an uncommitted one back, so once it has run the asset
folder and the manifest hold one export's files, never a mix. The next export and ``read_sheet_dir`` run it.

Every folder below the project root is opened without following symbolic links (``SafeDir`` in safe_dir.py: an
``O_NOFOLLOW`` walk with ``dir_fd``), so no write, rename or delete lands outside the project. Backups live in
``.dgx-pixels/backups/<asset>/NNNNNN/`` with a ``dgx-backup.json`` record of the files they hold; rotation deletes
only those files, and the folder when it is then empty.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..ops.export_formats import (
    EXTRAS_KEY,
    aseprite_json_text,
    assets_ron,
    atlas_ron,
    page_image_names,
    sheet_from_aseprite,
)
from ..ops.aseprite import aseprite_bytes
from ..ops.sheet import SpriteSheet
from .safe_dir import BINARY, NOFOLLOW, SafeDir, check_file_name, tmp_name

CATEGORIES: tuple[str, ...] = (
    "character", "enemy", "npc", "item", "tile", "ui", "effect", "projectile", "environment", "background",
)
MIN_SIDE_PX = 16
MAX_SIDE_PX = 4096
MAX_PNG_BYTES = 10 * 1024 * 1024
KEEP_BACKUPS = 5
MANIFEST_NAME = "manifest.json"
STATE_DIR = ".dgx-pixels"
LOCK_PATH = f"{STATE_DIR}/export.lock"
LOCK_TIMEOUT_S = 60.0
BACKUP_DIR = f"{STATE_DIR}/backups"
BACKUP_RECORD = "dgx-backup.json"
JOURNAL_NAME = "journal.json"
_SHEET_JOURNAL_SUFFIX = ".dgxjournal"
_GONE = ".gone"  # a backup folder being deleted
# The longest ending an asset's files get (``.assets.ron``; pages ``_NNN.png`` are shorter below 10^6 pages).
_LONGEST_SUFFIX = ".assets.ron"
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
    """Return the seed's ``{category}_{name}_{variant}`` asset name; raises ValueError naming the bad part (also
    when the asset's longest file name would exceed 255 bytes)."""
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
    asset = f"{category}_{name}_{variant}"
    # Blame the longer of the two free parts: shortening it is the fix.
    check_file_name("name" if len(name) >= len(variant) else "variant", asset, _LONGEST_SUFFIX)
    return asset


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
        check_file_name("subdir", part)
    return parts


def resolve_target(project_dir: str | os.PathLike, subdir: str, asset_name: str) -> tuple[Path, Path]:
    """Return (assets root, target folder) for an export, refusing anything that could land outside the project.

    Raises ValueError when the project folder is missing or not writable, ``subdir`` is absolute or has '..',
    ``asset_name`` is no plain file name, or any existing folder on the way (assets/ included), or the state or
    backup folder ``.dgx-pixels/backups/<asset>``, is a symbolic link or a file. Creates nothing.
    """
    if not str(project_dir):
        raise ValueError("project: no Bevy project folder given")
    project = Path(project_dir)
    with SafeDir.root(project) as root:
        if not os.access(project, os.W_OK | os.X_OK):
            raise ValueError(f"project: {project} is not writable")
        check_file_name("name", asset_name)
        parts = _check_subdir(subdir)
        for chain in (["assets", *parts, asset_name], [*BACKUP_DIR.split("/"), asset_name]):
            _existing_walk(root, chain).close()
    assets = project / "assets"
    if assets.exists() and not os.access(assets, os.W_OK | os.X_OK):
        raise ValueError(f"{assets} is not writable")
    return assets, assets.joinpath(*parts, asset_name)


def _existing_walk(root: SafeDir, parts: Sequence[str]) -> SafeDir:
    """Return the deepest existing folder along ``parts`` (refusing links and files on the way)."""
    here = root.walk([])
    for part in parts:
        try:
            nxt = here.child(part)
        except FileNotFoundError:
            return here
        here.close()
        here = nxt
    return here


def validate_png_bytes(data: bytes, label: str) -> tuple[list[str], list[str]]:
    """Return (errors, warnings) of the seed's asset checks for encoded image ``data``: PNG, RGBA/RGB/indexed,
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
    if mode not in ("RGBA", "RGB", "P"):  # P: an indexed PNG, which Bevy's image loader expands to RGBA
        errors.append(f"{label}: colour mode {mode}; use RGBA, RGB or an indexed (palette) PNG")
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


def encode_png(rgba: np.ndarray, *, indexed: bool = True) -> bytes:
    """Return the PNG encoding of an H×W×4 uint8 array (deterministic, no timestamps): a palette PNG (mode P, tRNS
    for alpha) when ``indexed`` and it has at most 256 colours, else RGBA8. Raises ValueError for another shape."""
    # Bevy loads PNGs through the image crate, which expands palette + tRNS to RGBA8 on load, so an indexed page
    # is the same texture at a fraction of the bytes. Imported here: images.py keeps PIL/numpy imports lazy.
    from .images import encode_png as encode_image_png

    return encode_image_png(rgba, indexed=indexed)


def sheet_files(sheet: SpriteSheet, asset_name: str, image_path: str, *, rgba: bool = False) -> list[tuple[str, bytes]]:
    """Return [(file name, bytes)] of a sheet in write order: every atlas page as PNG (``NAME.png``, then
    ``NAME_1.png``, ``NAME_2.png``… for further pages; palette PNGs when they hold ≤256 colours, unless ``rgba``),
    the Aseprite JSON, the .atlas.ron, and .assets.ron for grid sheets. ``image_path`` is the first PNG's path
    relative to assets/ (for .assets.ron)."""
    png = f"{asset_name}.png"
    files = [(name, encode_png(page, indexed=not rgba))
             for name, page in zip(page_image_names(png, len(sheet.pages)), sheet.pages)]
    files += [
        (f"{asset_name}.json", aseprite_json_text(sheet, png).encode()),
        (f"{asset_name}.atlas.ron", atlas_ron(sheet, png).encode()),
    ]
    if sheet.grid is not None:
        files.append((f"{asset_name}.assets.ron", assets_ron(sheet, image_path, asset_name).encode()))
    return files


# --- transactions: a journal names every temp file before it exists; its switch to "commit" is the commit point --


@dataclass
class _Backup:
    """A backup the transaction makes: ``files`` of ``source`` copied into ``<root>/<number>/`` (parts relative to
    the transaction's root)."""

    root: list[str]
    number: str
    source: list[str]
    files: list[str]


def _journal_doc(phase: str, writes: list[tuple[list[str], str]], deletes: list[tuple[list[str], str]],
                 backup: _Backup | None) -> bytes:
    doc = {
        "version": 1,
        "phase": phase,
        "writes": [[parts, name] for parts, name in writes],
        "deletes": [[parts, name] for parts, name in deletes],
        "backup": None if backup is None else {"dir": [*backup.root, backup.number], "files": backup.files},
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


def _transaction(root: SafeDir, journal: tuple[list[str], str], writes: list[tuple[list[str], str, bytes]],
                 deletes: list[tuple[list[str], str]], backup: _Backup | None) -> None:
    """Write ``writes`` (folder parts, file name, bytes) over their targets and remove ``deletes`` as one unit,
    backing up first; raises OSError from the file system. A crash at any point is undone or completed by
    ``_recover`` with the same ``journal``."""
    jparts, jname = journal
    with root.walk(jparts, create=True) as jdir:
        plan = [(parts, name) for parts, name, _ in writes]
        jdir.write_atomic(jname, _journal_doc("prepare", plan, deletes, backup))
        touched: dict[tuple[str, ...], None] = {}
        for parts, name, data in writes:
            with root.walk(parts, create=True) as folder:
                folder.create(tmp_name(name), data)
                touched[tuple(parts)] = None
        for parts in touched:
            with root.walk(parts) as folder:
                folder.fsync()
        if backup is not None:
            _make_backup(root, backup)
        jdir.write_atomic(jname, _journal_doc("commit", plan, deletes, backup))  # the commit point
    _recover(root, journal)


def _make_backup(root: SafeDir, backup: _Backup) -> None:
    with root.walk(backup.root, create=True) as broot:
        # The number is new (chosen under the lock), so this folder and all it holds are this export's own.
        broot.mkdir_new(backup.number)
        with broot.child(backup.number) as folder, root.walk(backup.source) as source:
            for name in backup.files:
                folder.create(name, source.read(name))
            folder.write_atomic(BACKUP_RECORD, (json.dumps({"version": 1, "files": backup.files}) + "\n").encode())
        broot.fsync()


def _recover(root: SafeDir, journal: tuple[list[str], str], *, forward_only: bool = False) -> None:
    """Finish what a journal describes: roll a committed transaction forward (rename each remaining temp file over
    its target, delete what it deletes), roll a prepared one back (delete its temp files and its unfinished backup)
    unless ``forward_only`` (a reader, which must not undo a live writer's work), then drop the journal. Raises
    ValueError for a journal that is not ours."""
    jparts, jname = journal
    try:
        jdir = root.walk(jparts)
    except FileNotFoundError:
        return
    with jdir:
        jdir.unlink(tmp_name(jname))  # a journal that never became one: nothing was written after it
        if not jdir.is_file(jname):
            return
        try:
            doc = json.loads(jdir.read(jname))
            phase = doc["phase"]
            writes = [(list(p), str(n)) for p, n in doc["writes"]]
            deletes = [(list(p), str(n)) for p, n in doc["deletes"]]
            backup = doc.get("backup")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{jdir.path / jname} is not a DGX-Pixels journal ({exc}); move it away") from None
        if phase == "commit":
            touched = []
            for parts, name in writes:
                with contextlib.suppress(FileNotFoundError), root.walk(parts) as folder:
                    if folder.is_file(tmp_name(name)):
                        with contextlib.suppress(FileNotFoundError):  # a concurrent reader renamed it first
                            folder.replace(tmp_name(name), name)
                    folder.fsync()
                    touched.append(parts)
            for parts, name in deletes:
                with contextlib.suppress(FileNotFoundError), root.walk(parts) as folder:
                    if folder.is_file(name):
                        folder.unlink(name)
                        folder.fsync()
        elif forward_only:
            return
        else:
            for parts, name in writes:
                with contextlib.suppress(FileNotFoundError), root.walk(parts) as folder:
                    folder.unlink(tmp_name(name))
            if backup:
                _delete_backup(root, list(backup["dir"]), [*backup["files"], tmp_name(BACKUP_RECORD)])
        jdir.unlink(jname)
        jdir.fsync()


def _delete_backup(root: SafeDir, parts: list[str], files: Sequence[str]) -> None:
    """Delete the listed files (and the record) of one backup folder, then the folder if nothing else is left."""
    if not parts:
        return
    try:
        parent = root.walk(parts[:-1])
    except FileNotFoundError:
        return
    name = parts[-1]
    with parent:
        if not name.endswith(_GONE):
            # One rename takes the backup out of the count at once; the record inside still says what to delete, so
            # a crash halfway leaves neither a half backup that counts nor files nobody will delete.
            with contextlib.suppress(OSError):
                parent.replace(name, name + _GONE)
                parent.fsync()
                name += _GONE
        try:
            folder = parent.child(name)
        except FileNotFoundError:
            return
        with folder:
            for entry in files:
                if folder.is_file(entry):
                    folder.unlink(entry)
            folder.unlink(BACKUP_RECORD)
            folder.fsync()
        parent.rmdir_if_empty(name)
        parent.fsync()


def _backup_files(folder: SafeDir) -> list[str] | None:
    """Return the files a backup folder's record lists (None when it has no valid record: not a backup of ours)."""
    if not folder.is_file(BACKUP_RECORD):
        return None
    try:
        files = json.loads(folder.read(BACKUP_RECORD))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, list) or not all(isinstance(f, str) and "/" not in f and "\\" not in f for f in files):
        return None
    return files


def _backups(broot: SafeDir) -> list[tuple[str, list[str]]]:
    """Return (number, files) of the complete backups in an asset's backup folder, oldest first; folders without a
    record (empty, unfinished, or not ours) are left out, so they never count toward those kept."""
    out = []
    for name in broot.names():
        if not name.isdigit():
            continue
        try:
            folder = broot.child(name)
        except (ValueError, FileNotFoundError):  # links and files among the numbers: not ours, never followed
            continue
        with folder:
            files = _backup_files(folder)
        if files is not None:
            out.append((name, files))
    return sorted(out, key=lambda item: int(item[0]))


def _prune_backups(root: SafeDir, parts: list[str], keep: int) -> None:
    """Delete the oldest backups below ``parts`` until at most ``keep`` remain (only the files their records list)."""
    try:
        broot = root.walk(parts)
    except FileNotFoundError:
        return
    with broot:
        found = _backups(broot)
        unfinished = []
        for name in broot.names():
            if name.isdigit() and name not in {number for number, _ in found}:
                broot.rmdir_if_empty(name)  # an empty folder holds nothing to lose; a full one is not ours
            elif re.fullmatch(rf"\d+{re.escape(_GONE)}", name):
                with contextlib.suppress(ValueError, FileNotFoundError), broot.child(name) as folder:
                    files = _backup_files(folder)
                    if files is not None:
                        unfinished.append((name, files))
    for number, files in unfinished + found[: max(0, len(found) - keep)]:
        _delete_backup(root, [*parts, number], files)


def _next_number(broot: SafeDir | None) -> str:
    # Every numeric entry counts, ours or not, so a new backup never lands in a folder that already exists.
    numbers = [int(n) for n in broot.names() if n.isdigit()] if broot is not None else []
    return f"{(max(numbers) + 1) if numbers else 1:06d}"


# --- sheet folders ------------------------------------------------------------------------------------------------


def _sheet_journal(name: str) -> tuple[list[str], str]:
    return [], f".{name}{_SHEET_JOURNAL_SUFFIX}"


def _recover_for_read(json_path: Path) -> None:
    """Finish an interrupted write of the sheet at ``json_path`` before it is read: an export's journal in its Bevy
    project (under the project lock), or a ``write_sheet_dir`` journal beside it (committed ones only)."""
    folder = json_path.absolute().parent
    jparts, jname = _sheet_journal(json_path.stem)
    if os.path.lexists(folder / jname):
        with SafeDir.root(folder, "sheet folder") as root:
            _recover(root, (jparts, jname), forward_only=True)
    for project in folder.parents:
        if (project / "assets") in (folder, *folder.parents) and os.path.lexists(project / STATE_DIR / JOURNAL_NAME):
            with contextlib.suppress(OSError), project_lock(project), SafeDir.root(project) as root:
                _recover(root, ([STATE_DIR], JOURNAL_NAME))
            break


def read_sheet_dir(json_path: str | os.PathLike) -> SpriteSheet:
    """Return the sheet that ``write_sheet_dir`` (or an export) stored as ``NAME.json`` with its page PNGs beside it,
    after finishing a write a crash interrupted.

    Raises ValueError naming the file when the JSON or a page image is missing or unreadable.
    """
    json_path = Path(json_path)
    _recover_for_read(json_path)
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
    grids) into ``out_dir`` (created if missing) as one transaction (all new or all old after a crash); return the
    paths. Raises ValueError, before anything is written, for a name that is no portable file name within 255
    bytes, or when a page file would overwrite another sheet's atlas (``NAME_1.json`` already beside it)."""
    check_file_name("name", name)
    files = sheet_files(sheet, name, f"{name}.png")
    for file_name, _ in files:
        check_file_name("name", file_name)
    # The journal's temporary name, ``..NAME.dgxjournal.dgxtmp``, is the longest this writes.
    check_file_name("name", name, "." + _SHEET_JOURNAL_SUFFIX)
    folder = Path(out_dir)
    for p in range(1, len(sheet.pages)):
        if (folder / f"{name}_{p}.json").exists():
            raise ValueError(
                f"page {p} of sheet {name!r} would overwrite {name}_{p}.png of the sheet {name}_{p} in {folder}; "
                "choose another name or folder"
            )
    folder.mkdir(parents=True, exist_ok=True)
    with SafeDir.root(folder, "out_dir") as root:
        journal = _sheet_journal(name)
        _recover(root, journal)
        _transaction(root, journal, [([], n, d) for n, d in files], [], None)
    return [folder / file_name for file_name, _ in files]


# --- Bevy export --------------------------------------------------------------------------------------------------


def _parse_manifest(data: bytes | None, path: Path) -> dict:
    if data is None:
        return {"version": 1, "assets": {}}
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix or move it, then export again") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("assets"), dict):
        raise ValueError(f"{path} is not a DGX-Pixels manifest (needs an 'assets' object)")
    return doc


def _read_manifest(assets: SafeDir | None, path: Path) -> dict:
    if assets is None:
        return _parse_manifest(None, path)
    st = assets.lstat(MANIFEST_NAME)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise ValueError(f"{path} is a symbolic link; refusing to write through it")
    return _parse_manifest(assets.read(MANIFEST_NAME) if st is not None else None, path)


def _stale_files(folder: SafeDir | None, asset_name: str, new_names: Sequence[str]) -> list[str]:
    """Return the files of an earlier export of ``asset_name`` in ``folder`` that the new one does not write (pages
    past its last, the ``.assets.ron`` of a grid sheet when a packed one follows): left there, they would mix
    versions."""
    if folder is None:
        return []
    pattern = re.compile(
        rf"^{re.escape(asset_name)}(?:_\d+\.png|\.png|\.json|\.atlas\.ron|\.assets\.ron|\.aseprite)$"
    )
    return [n for n in folder.names() if pattern.match(n) and n not in new_names and folder.is_file(n)]


def _open_if_there(root: SafeDir, parts: Sequence[str]) -> SafeDir | None:
    try:
        return root.walk(parts)
    except FileNotFoundError:
        return None


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
    aseprite: bool = False,
    rgba: bool = False,
) -> ExportReport:
    """Export ``sheet`` into ``<project_dir>/assets/<subdir>/<category>_<name>_<variant>/`` and index it in
    ``assets/manifest.json``; return the report (``dry_run`` writes nothing and reports the plan). With
    ``aseprite`` the folder also gets ``<asset>.aseprite`` (for bevy_aseprite_ultra), in the same transaction.
    Atlas pages are palette PNGs when they hold ≤256 colours; ``rgba`` writes RGBA PNGs instead.

    Raises ValueError before writing anything when a name, the category, a path (a symbolic link on the way, the
    state folder included), the manifest or a validation check fails (with ``strict``; otherwise failed checks are
    listed in ``report.errors`` and nothing is written).
    """
    asset_name = asset_name_for(category, name, variant)
    assets_path, target_path = resolve_target(project_dir, subdir, asset_name)
    parts = ["assets", *_check_subdir(subdir), asset_name]
    rel_dir = "/".join(parts[1:])
    files = sheet_files(sheet, asset_name, f"{rel_dir}/{asset_name}.png", rgba=rgba)
    if aseprite:
        # After the PNG pages (the checks below take the first pages), planned, backed up and committed with them.
        files.append((f"{asset_name}.aseprite", aseprite_bytes(sheet, layer=name)))
    for file_name, _ in files:
        check_file_name("name", file_name)
    report = ExportReport(asset_name=asset_name, target_dir=target_path, dry_run=dry_run)
    png_files = files[: len(sheet.pages)]
    for file_name, data in png_files:
        errors, warnings = validate_png_bytes(data, file_name)
        report.errors += errors
        report.warnings += warnings
    manifest_path = assets_path / MANIFEST_NAME
    with SafeDir.root(project_dir) as root:
        assets = _open_if_there(root, ["assets"])
        target = _open_if_there(root, parts)
        try:
            _read_manifest(assets, manifest_path)  # a broken manifest refuses the export before anything is written
            for file_name, _ in files:
                st = target.lstat(file_name) if target is not None else None
                if st is not None and stat.S_ISLNK(st.st_mode):
                    report.errors.append(f"{target_path / file_name} is a symbolic link; remove it first")
        finally:
            for opened in (assets, target):
                if opened is not None:
                    opened.close()
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
    report.files = [(target_path / n, len(d)) for n, d in files]
    report.manifest_path = manifest_path
    backup_parts = [*BACKUP_DIR.split("/"), asset_name]
    if dry_run:
        with SafeDir.root(project_dir) as root:
            target = _open_if_there(root, parts)
            if target is not None:
                with target:
                    replaced = _replaced(target, asset_name, files)
                if replaced and keep_backups > 0:
                    broot = _open_if_there(root, backup_parts)
                    report.backup_dir = Path(project_dir).joinpath(*backup_parts, _next_number(broot))
                    if broot is not None:
                        broot.close()
        return report
    with project_lock(project_dir), SafeDir.root(project_dir) as root:
        _recover(root, ([STATE_DIR], JOURNAL_NAME))
        _write_export(root, report, files, entry, parts, backup_parts, keep_backups)
    return report


def _write_export(root: SafeDir, report: ExportReport, files: list[tuple[str, bytes]], entry: dict, parts: list[str],
                  backup_parts: list[str], keep_backups: int) -> None:
    """The writing half of ``export_to_bevy``, run under the project lock so concurrent exports into one project
    neither lose each other's manifest entries nor share a backup folder."""
    asset_name = report.asset_name
    with root.walk(["assets"], create=True) as assets:
        manifest = _read_manifest(assets, report.manifest_path)  # again under the lock: another export may have added
    manifest["assets"][asset_name] = entry
    manifest["assets"] = dict(sorted(manifest["assets"].items()))
    manifest_bytes = (json.dumps(manifest, indent=1) + "\n").encode()
    with root.walk(parts, create=True) as target:
        stale = _stale_files(target, asset_name, [n for n, _ in files])
        replaced = _replaced(target, asset_name, files)
    backup = None
    if replaced and keep_backups > 0:
        # The oldest go before the new one exists, so no crash ever leaves more than ``keep_backups``.
        _prune_backups(root, backup_parts, keep_backups - 1)
        with root.walk(backup_parts, create=True) as broot:
            backup = _Backup(backup_parts, _next_number(broot), parts, replaced)
        report.backup_dir = root.path.joinpath(*backup_parts, backup.number)
    writes = [(parts, n, d) for n, d in files] + [(["assets"], MANIFEST_NAME, manifest_bytes)]
    # An earlier export's extra files are removed after the manifest that no longer names them is in place.
    _transaction(root, ([STATE_DIR], JOURNAL_NAME), writes, [(parts, n) for n in stale], backup)
    report.written = True


def _replaced(target: SafeDir, asset_name: str, files: list[tuple[str, bytes]]) -> list[str]:
    """The files an export of ``files`` would replace or remove: what the backup holds."""
    return [n for n, _ in files if target.is_file(n)] + _stale_files(target, asset_name, [n for n, _ in files])


@contextlib.contextmanager
def project_lock(project_dir: str | os.PathLike, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the export lock of a Bevy project (an OS file lock in ``.dgx-pixels/``, released even when the process
    dies); raise TimeoutError naming the project when another export keeps it longer than ``timeout_s``, and
    ValueError when ``.dgx-pixels`` or the lock file is a symbolic link."""
    lock_path = Path(project_dir) / LOCK_PATH
    with SafeDir.root(project_dir) as root, root.child(STATE_DIR, create=True) as state:
        st = state.lstat("export.lock")
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{lock_path} is a symbolic link or not a file; refusing to use it")
        at, kw = state.entry("export.lock")
        fd = os.open(at, os.O_RDWR | os.O_CREAT | NOFOLLOW | BINARY, 0o666, **kw)
    with open(fd, "a+b") as handle:
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


def recover(project_dir: str | os.PathLike) -> None:
    """Return after finishing (forward or back) an export into the project that a crash interrupted; raises
    ValueError for a symbolic link on the way or a journal that is not DGX-Pixels'."""
    with project_lock(project_dir), SafeDir.root(project_dir) as root:
        _recover(root, ([STATE_DIR], JOURNAL_NAME))


def list_backups(project_dir: str | os.PathLike, asset_name: str) -> Sequence[Path]:
    """Return the complete backup folders of ``asset_name`` in the project, oldest first (empty when none); raises
    ValueError when a folder on the way is a symbolic link."""
    parts = [*BACKUP_DIR.split("/"), asset_name]
    with SafeDir.root(project_dir) as root:
        broot = _open_if_there(root, parts)
        if broot is None:
            return []
        with broot:
            return [Path(project_dir).joinpath(*parts, number) for number, _ in _backups(broot)]
