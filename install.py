"""Run by ComfyUI-Manager after it installs requirements.txt: checks the engine and makes our model folders.

Idempotent and offline: it installs nothing (the Manager already ran pip on requirements.txt) and only creates
folders that are missing. Safe to run by hand: `python install.py` from the pack's folder.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
# Folders under <ComfyUI>/models that the bundled workflows read from.
MODEL_FOLDERS = ("checkpoints", "loras", "vae")
MIN_TORCH = (2, 1)


def _load_local_engine():
    # The pack folder may be called "dgx-pixels" (not importable as a package), so load the module by path.
    spec = importlib.util.spec_from_file_location("dgx_pixels_local_engine", PACK_DIR / "engine" / "local.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def main() -> int:
    local_engine = _load_local_engine()
    report = []
    try:
        engine_dir = local_engine.find_engine_dir()
    except local_engine.EngineError as exc:
        print(f"[DGX-Pixels] {exc}")  # noqa: T201
        return 1
    version = local_engine.engine_version(engine_dir) or "unknown"
    pinned = local_engine.PINNED_ENGINE_VERSION
    if version == "unknown" or _version_tuple(version) < _version_tuple(pinned):
        report.append(f"WARNING: ComfyUI {version} at {engine_dir}; DGX-Pixels needs {pinned} or newer")
    else:
        report.append(f"ComfyUI {version} at {engine_dir} (tested with {pinned})")

    try:
        import torch

        if _version_tuple(torch.__version__)[:2] < MIN_TORCH:
            report.append(f"WARNING: torch {torch.__version__} is older than {'.'.join(map(str, MIN_TORCH))}")
        else:
            device = "CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA (CPU only)"
            report.append(f"torch {torch.__version__}, {device}")
    except ImportError:
        report.append("WARNING: torch is not installed in this Python; ComfyUI cannot run without it")

    for name in MODEL_FOLDERS:
        folder = engine_dir / "models" / name
        if folder.is_dir():
            report.append(f"models/{name} exists")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            report.append(f"created models/{name}")

    for line in report:
        print(f"[DGX-Pixels] {line}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
