"""``dgx-pixels train-lora`` and ``dgx-pixels lora-info``: train a pixel-art LoRA, or show what a LoRA file says."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import EXIT_CTRL_C, EXIT_INVALID, check_writable_file, err, say


def cmd_train_lora(args: argparse.Namespace) -> int:
    from ..lora.dataset import DatasetError
    from ..lora.files import LoraFileError
    from ..lora.train import TrainConfig, TrainError, train_lora

    config = TrainConfig(
        data=Path(args.data), base=args.base, out=Path(args.out), steps=args.steps, rank=args.rank, alpha=args.alpha,
        lr=args.lr, resolution=args.resolution, batch=args.batch, trigger=args.trigger or "",
        default_caption=args.default_caption, seed=args.seed, gradient_checkpointing=not args.no_checkpointing,
        save_every=args.save_every, resume=args.resume, cpu=args.cpu, memory_check=not args.no_memory_check,
        engine_dir=Path(args.engine_dir) if args.engine_dir else None, progress=not args.quiet)
    try:
        # Checked before training, not when saving: a typo in --out must not cost the whole run.
        check_writable_file(config.out)
        result = train_lora(config, say=say)
    except (TrainError, DatasetError, LoraFileError, ValueError) as exc:
        err(f"train-lora: {exc}")
        return EXIT_INVALID
    except KeyboardInterrupt:
        err("train-lora: interrupted; the last checkpoint is intact (continue with --resume)")
        return EXIT_CTRL_C
    first = result.losses[0] if result.losses else float("nan")
    last = result.losses[-1] if result.losses else float("nan")
    say(f"wrote {result.out}: {result.steps} steps, {result.steps_per_s:.2f} steps/s, loss {first:.4f} → {last:.4f}, "
         f"peak memory {result.peak_memory_bytes / 2**30:.2f} GiB")
    return 0


def cmd_lora_info(args: argparse.Namespace) -> int:
    from ..lora.files import LoraFileError, lora_info, read_header
    from ..lora.keys import detect_family_from_shapes, detect_key_format

    try:
        header = read_header(args.file)
    except LoraFileError as exc:
        err(f"lora-info: {exc}")
        return EXIT_INVALID
    info = lora_info(header.metadata)
    say(f"file: {header.path}")
    say(f"tensors: {len(header.shapes)}, key format: {detect_key_format(header.shapes)}")
    say(f"family from shapes: {detect_family_from_shapes(header.shapes) or 'unknown'}; "
         f"from metadata: {info.base_model or 'unknown'}")
    say(f"rank {info.rank}, alpha {info.alpha}, trigger words: {info.trigger_text or '(none)'}")
    say(f"recommended strength: {info.recommended_strength}, native pixel scale: {info.native_pixel_scale}")
    return 0


def add_train_lora_parser(subparsers) -> None:
    """Register ``train-lora`` and ``lora-info`` on the ``dgx-pixels`` command."""
    train = subparsers.add_parser("train-lora", help="train a pixel-art LoRA on a folder of captioned images")
    train.add_argument("--data", required=True, help="folder of images with same-name .txt captions")
    train.add_argument("--base", required=True,
                       help="base checkpoint: a path or a name in the engine's models/checkpoints")
    train.add_argument("--out", required=True, help="LoRA file to write (.safetensors, kohya format)")
    train.add_argument("--steps", type=int, default=500, help="optimizer steps (default 500)")
    train.add_argument("--rank", type=int, default=16, help="LoRA rank (default 16)")
    train.add_argument("--alpha", type=float, default=None, help="LoRA alpha (default: the rank, i.e. scale 1)")
    train.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default 1e-4)")
    train.add_argument("--resolution", type=int, default=512, help="training size in pixels, multiple of 64")
    train.add_argument("--batch", type=int, default=1, help="images per step (default 1)")
    train.add_argument("--trigger", default="", help="trigger words put in front of every caption")
    train.add_argument("--default-caption", default="pixel art", help="caption for images without a .txt")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save-every", type=int, default=250, help="checkpoint every N steps (0: only at the end)")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    train.add_argument("--no-checkpointing", action="store_true", help="turn gradient checkpointing off")
    train.add_argument("--no-memory-check", action="store_true", help="skip the memory estimate before starting")
    train.add_argument("--cpu", action="store_true", help="train on the CPU even when CUDA is available")
    train.add_argument("--engine-dir", default=None, help="ComfyUI folder (default: the pinned engine)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train_lora)

    info = subparsers.add_parser("lora-info", help="show a LoRA file's format, family and metadata")
    info.add_argument("file", help="a .safetensors LoRA")
    info.set_defaults(func=cmd_lora_info)
