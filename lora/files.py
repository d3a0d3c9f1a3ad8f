"""Reading LoRA ``.safetensors`` files without ComfyUI: header check, tensor shapes and metadata.

The header is parsed by hand first so that a truncated or corrupted file gives one clear error naming the file
before any tensor is read (safetensors itself reports such files with a terse ``MetadataIncompleteBuffer``).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

# safetensors dtype names → bytes per element
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_MAX_HEADER_BYTES = 100 * 2**20

# Our own metadata keys (written by the trainer, read by the loader).
META_TRIGGER = "dgx_pixels.trigger_words"
META_BASE = "dgx_pixels.base_model"
META_STRENGTH = "dgx_pixels.recommended_strength"
META_PIXEL_SCALE = "dgx_pixels.native_pixel_scale"


class LoraFileError(ValueError):
    """A LoRA file that cannot be used, with the reason and the file in the message."""


@dataclass(frozen=True)
class LoraHeader:
    """Tensor shapes and string metadata of one safetensors file."""

    path: Path
    shapes: dict[str, tuple[int, ...]]
    metadata: dict[str, str]


def read_header(path: str | Path) -> LoraHeader:
    """Return the shapes and metadata of a safetensors file.

    Raises LoraFileError when the file is missing, not safetensors, or shorter than its header says (truncated).
    """
    path = Path(path)
    if not path.is_file():
        raise LoraFileError(f"LoRA file {path} does not exist")
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise LoraFileError(f"{path} is not a safetensors file: only {size} bytes long")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len <= 1 or header_len > _MAX_HEADER_BYTES or 8 + header_len > size:
            raise LoraFileError(f"{path} is truncated or not a safetensors file: its header claims {header_len} "
                                f"bytes but the file has {size}")
        raw = handle.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoraFileError(f"{path} has a corrupted safetensors header ({exc})") from exc
    if not isinstance(header, dict):
        raise LoraFileError(f"{path} has a corrupted safetensors header (not a JSON object)")
    metadata = {str(k): str(v) for k, v in (header.pop("__metadata__", None) or {}).items()}
    shapes: dict[str, tuple[int, ...]] = {}
    data_end = 0
    for name, entry in header.items():
        try:
            shape = tuple(int(d) for d in entry["shape"])
            begin, end = (int(o) for o in entry["data_offsets"])
            itemsize = _DTYPE_BYTES.get(entry["dtype"], 0)
        except (KeyError, TypeError, ValueError) as exc:
            raise LoraFileError(f"{path} has a corrupted entry for tensor {name!r} ({exc})") from exc
        if itemsize and end - begin != itemsize * math.prod(shape):
            raise LoraFileError(f"{path} is corrupted: tensor {name!r} has {end - begin} bytes for shape {shape}")
        shapes[name] = shape
        data_end = max(data_end, end)
    if 8 + header_len + data_end > size:
        raise LoraFileError(f"{path} is truncated: it should be {8 + header_len + data_end} bytes but has {size}; "
                            "download or copy it again")
    return LoraHeader(path=path, shapes=shapes, metadata=metadata)


def load_state_dict(path: str | Path):
    """Return the tensors of a checked safetensors file (``dict[str, torch.Tensor]`` on CPU); raises LoraFileError."""
    from safetensors.torch import load_file

    read_header(path)
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError for bad payloads
        raise LoraFileError(f"{path} could not be read as safetensors ({exc})") from exc


@dataclass(frozen=True)
class LoraInfo:
    """What a LoRA file says about itself, gathered from kohya ``ss_*``, ``modelspec.*`` and ``dgx_pixels.*``."""

    trigger_words: list[str] = field(default_factory=list)
    base_model: str | None = None          # family as stated by the metadata: "sd15", "sdxl", ...
    recommended_strength: float | None = None
    native_pixel_scale: int | None = None  # image pixels per art pixel the LoRA was trained for (e.g. 8)
    rank: int | None = None
    alpha: float | None = None
    title: str | None = None

    @property
    def trigger_text(self) -> str:
        """The trigger words as one prompt fragment (``""`` when there are none)."""
        return ", ".join(self.trigger_words)


def _split_words(text: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            value = json.loads(text)
            if isinstance(value, list):
                return [str(v).strip() for v in value if str(v).strip()]
        except json.JSONDecodeError:
            pass
    return [word.strip() for word in text.split(",") if word.strip()]


def family_from_metadata_text(text: str) -> str | None:
    """Map an ``ss_base_model_version`` / ``modelspec.architecture`` / our base value to a family name."""
    text = text.lower()
    if not text:
        return None
    if "xl" in text:
        return "sdxl"
    if "flux" in text:
        return "flux"
    if "v3" in text or "sd3" in text:
        return "sd3"
    if "v2" in text or "sd2" in text:
        return "sd2"
    if "v1" in text or "sd15" in text or "sd1" in text:
        return "sd15"
    return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "None") else None
    except ValueError:
        return None


def _top_tags(tag_frequency: str, limit: int = 3) -> list[str]:
    # kohya's ss_tag_frequency: {"dataset": {"tag": count, ...}}; its most common tags are the usual triggers.
    try:
        data = json.loads(tag_frequency)
    except json.JSONDecodeError:
        return []
    counts: dict[str, int] = {}
    for tags in data.values() if isinstance(data, dict) else []:
        if isinstance(tags, dict):
            for tag, count in tags.items():
                counts[tag.strip()] = counts.get(tag.strip(), 0) + int(count)
    return [tag for tag, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit] if tag]


def lora_info(metadata: dict[str, str]) -> LoraInfo:
    """Return what the metadata says; ours wins over ``modelspec.*``, which wins over kohya ``ss_*``."""
    triggers = (_split_words(metadata.get(META_TRIGGER, ""))
                or _split_words(metadata.get("modelspec.trigger_phrase", ""))
                or _split_words(metadata.get("ss_trigger_words", ""))
                or _top_tags(metadata.get("ss_tag_frequency", "")))
    base = None
    for key in (META_BASE, "modelspec.architecture", "ss_base_model_version", "ss_sd_model_name"):
        base = family_from_metadata_text(metadata.get(key, ""))
        if base:
            break
    if base is None and metadata.get("ss_v2", "").lower() == "true":
        base = "sd2"
    scale = _float(metadata.get(META_PIXEL_SCALE))
    rank = _float(metadata.get("ss_network_dim"))
    return LoraInfo(
        trigger_words=triggers,
        base_model=base,
        recommended_strength=_float(metadata.get(META_STRENGTH)),
        native_pixel_scale=int(scale) if scale else None,
        rank=int(rank) if rank else None,
        alpha=_float(metadata.get("ss_network_alpha")),
        title=metadata.get("modelspec.title") or metadata.get("ss_output_name") or None,
    )
