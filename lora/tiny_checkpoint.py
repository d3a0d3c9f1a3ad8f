"""A tiny SD1.5-shaped checkpoint of random weights, built with ComfyUI's own classes.

ComfyUI detects it as SD1.5 (UNet with context_dim 768, CLIP-L text encoder, TAESD as the VAE), so every
loader, sampler and VAE node runs its real code path on it. Its images are noise; the tests and the demo use it
because no model weights can be downloaded. About 300 MB in fp16, built in seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

# One level of the SD1.5 UNet: the smallest model ComfyUI's detector still calls SD1.5.
TINY_UNET_CONFIG = dict(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, context_dim=768, num_res_blocks=[1], channel_mult=[1],
    transformer_depth=[1], transformer_depth_output=[1, 1], transformer_depth_middle=1,
    num_head_channels=64, use_linear_in_transformer=False, use_spatial_transformer=True, legacy=False,
)


def _randomize(module: torch.nn.Module, generator: torch.Generator) -> None:
    # ComfyUI's ops skip weight init; give every tensor finite, variance-preserving values (norms as identity).
    for name, tensor in module.state_dict(keep_vars=True).items():
        data = tensor.data
        if not data.is_floating_point():
            continue
        leaf = name.rsplit(".", 1)[-1]
        if data.dim() == 1 and ("norm" in name or leaf == "weight" and "ln" in name):
            data.fill_(1.0 if leaf == "weight" else 0.0)
        elif leaf == "bias":
            data.zero_()
        else:
            # 1/sqrt(fan_in) keeps activations from vanishing through TAESD's deep conv stack.
            fan_in = max(1, data[0].numel()) if data.dim() > 1 else data.numel()
            data.copy_(torch.randn(data.shape, generator=generator) / fan_in**0.5)


def build_tiny_state_dict(seed: int = 0, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """Return the state dict of a tiny SD1.5-shaped checkpoint. Needs ``import_comfy`` to have run first."""
    import comfy.sd1_clip
    import comfy.taesd.taesd
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    generator = torch.Generator().manual_seed(seed)
    parts = {
        "model.diffusion_model.": UNetModel(**TINY_UNET_CONFIG, dtype=torch.float32, device="cpu"),
        "first_stage_model.": comfy.taesd.taesd.TAESD(),
        "cond_stage_model.": comfy.sd1_clip.SDClipModel(device="cpu", dtype=torch.float32),
    }
    state: dict[str, torch.Tensor] = {}
    for prefix, module in parts.items():
        _randomize(module, generator)
        for key, value in module.state_dict().items():
            state[prefix + key] = value.to(dtype).contiguous()
    # TAESD's own scale/shift parameters are not part of an SD checkpoint's VAE.
    state.pop("first_stage_model.vae_scale", None)
    state.pop("first_stage_model.vae_shift", None)
    return state


def write_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write the tiny checkpoint to ``path`` atomically (a temporary file renamed into place); return path."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(build_tiny_state_dict(seed), str(partial), metadata={"dgx_pixels.tiny": "sd15-random", "seed": str(seed)})
    partial.replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    from .comfy_runtime import import_comfy

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", type=Path, required=True, help="ComfyUI folder whose classes build the model")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .safetensors file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import_comfy(args.engine, cpu=True)
    print(write_tiny_checkpoint(args.out, args.seed))  # noqa: T201 (command-line output)


if __name__ == "__main__":
    main()
