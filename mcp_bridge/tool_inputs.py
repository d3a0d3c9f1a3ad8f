"""Inputs of the sprite tools that come from the MCP client: uploaded frames, files of earlier jobs, and sheets
that ``animate`` left in a results folder."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

RESULT_URI = re.compile(r"^dgx-pixels://results/([0-9a-f-]{36})/([^/\\]+)$")
MAX_FRAMES = 256
MAX_FRAME_BYTES = 8 * 1024 * 1024


def decode_data_url(text: str) -> bytes:
    """Return the bytes of a ``data:image/png;base64,...`` URL (or bare base64); raise ValueError otherwise."""
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("an uploaded frame must be base64 PNG data (optionally a data:image/png;base64, URL)") \
            from None
    if len(data) > MAX_FRAME_BYTES:
        raise ValueError(f"an uploaded frame is {len(data)} bytes; the limit is {MAX_FRAME_BYTES}")
    return data


def job_file(results_dir: Path, job_id: str, filename: str) -> Path:
    """Return the path of ``filename`` in a job's results folder; raise ValueError when it is not there (or
    would leave the folder)."""
    root = (Path(results_dir) / job_id).resolve()
    path = (root / filename).resolve()
    if path.parent != root or not path.is_file():
        raise ValueError(f"job {job_id} has no file {filename!r}")
    return path


def find_sheet(folder: Path) -> tuple[Path, Path]:
    """Return (json, png) of the one sheet in ``folder``; raise ValueError when there is not exactly one."""
    pairs = sorted(p for p in folder.glob("*.json") if p.with_suffix(".png").is_file())
    if len(pairs) != 1:
        raise ValueError(f"{folder.name} holds {len(pairs)} sprite sheets; pass the id animate returned")
    return pairs[0], pairs[0].with_suffix(".png")


def load_sheet(folder: Path):
    """Return the SpriteSheet stored in ``folder`` by animate; raise ValueError when it is missing or broken."""
    from ..export.bevy import read_sheet_dir

    json_path, _ = find_sheet(folder)
    return read_sheet_dir(json_path)
