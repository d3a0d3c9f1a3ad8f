"""Importing ComfyUI's own modules in this process (fixtures, the LoRA trainer), outside a running engine."""

from __future__ import annotations

import sys
from pathlib import Path


def import_comfy(engine_dir: Path, *, cpu: bool | None = None) -> None:
    """Put ``engine_dir`` on sys.path and prepare ComfyUI's argument parsing so ``import comfy.*`` works.

    ComfyUI's model management probes CUDA when first imported unless ``--cpu`` is among the parsed arguments,
    so on a machine without CUDA (or with ``cpu=True``) we hand it ``--cpu`` before the first import.
    """
    engine_dir = Path(engine_dir).resolve()
    if str(engine_dir) not in sys.path:
        sys.path.insert(0, str(engine_dir))
    if "comfy.model_management" in sys.modules:
        return
    if cpu is None:
        import torch

        cpu = not torch.cuda.is_available()
    import comfy.options

    comfy.options.enable_args_parsing()
    saved = sys.argv
    sys.argv = [saved[0]] + (["--cpu"] if cpu else [])
    try:
        import comfy.cli_args  # noqa: F401  (parses sys.argv once, at import)
    finally:
        sys.argv = saved
