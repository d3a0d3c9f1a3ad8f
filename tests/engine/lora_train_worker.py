"""Train a tiny LoRA and check it against ComfyUI, in a process of its own.

``test_lora_train.py`` runs this file with the test interpreter: importing ``comfy`` puts the ComfyUI folder first
on ``sys.path``, where its top-level ``nodes``, ``server``, ``utils``, ``app`` and ``tests`` would shadow or clash
with modules of the pytest process. Writes a JSON report of what the test asserts.

    python tests/engine/lora_train_worker.py --engine-dir DIR --base NAME --data DIR --out FILE --report JSON
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def train(args: argparse.Namespace) -> dict:
    from dgx_pixels.lora.train import LoraTrainer, TrainConfig

    config = TrainConfig(data=args.data, base=args.base, out=args.out, steps=args.steps, rank=args.rank,
                         alpha=args.alpha, lr=args.lr, resolution=64, trigger="pxl", cpu=True, progress=False,
                         engine_dir=args.engine_dir)
    trainer = LoraTrainer(config)
    trainer.prepare()
    fixed = trainer.sample_batch(torch.Generator().manual_seed(5))
    before = trainer.loss_on(fixed)
    for _ in range(config.steps):
        trainer.step(torch.Generator(), batch=fixed)
    after = trainer.loss_on(fixed)
    trainer.save()
    return {"loss_before": before, "loss_after": after, "base_path": str(trainer.base_path),
            "patch": compare_with_comfy(trainer)}


def compare_with_comfy(trainer) -> dict:
    """Apply the saved file with ComfyUI's patcher and compare each patched weight with peft's merged delta."""
    import comfy.sd

    from dgx_pixels.lora.apply import apply_lora
    from dgx_pixels.lora.files import load_state_dict

    model, _, _, _ = comfy.sd.load_checkpoint_guess_config(str(trainer.base_path), output_vae=False,
                                                           output_clip=False)
    patched, _, report = apply_lora(model, None, load_state_dict(trainer.config.out), 1.0, 0.0, name="trained")
    layers = {}
    patched.patch_model()
    try:
        weights = patched.model.diffusion_model.state_dict()
        for name, module in trainer.lora_modules.items():
            merged = module.get_delta_weight("default").float()
            comfy_delta = weights[f"{name}.weight"].float() - module.base_layer.weight.float()
            layers[name] = {"merged_abs_max": float(merged.abs().max()),
                            "relative": float((comfy_delta - merged).norm() / merged.norm())}
    finally:
        patched.unpatch_model()
    return {"keys_loaded": report.keys_loaded, "not_loaded": list(report.not_loaded), "layers": layers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine-dir", type=Path, required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    args.report.write_text(json.dumps(train(args), indent=1))


if __name__ == "__main__":
    main()
