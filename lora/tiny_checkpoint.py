"""Checkpoints of random weights built with ComfyUI's own classes: a tiny SD1.5-shaped one and an SDXL-shaped one.

The tiny one: ComfyUI detects it as SD1.5 (UNet with context_dim 768, CLIP-L text encoder, TAESD as the VAE), so
every loader, sampler and VAE node runs its real code path on it. Its images are noise; the tests and the demo use
it because no model weights can be downloaded. About 300 MB in fp16, built in seconds.

The SDXL-shaped one (``--model sdxl``) has the full SDXL base layout (2.6 B-parameter UNet, CLIP-L + CLIP-G, the
SDXL AutoencoderKL), about 7 GB in fp16: for GPU benchmarks, where speed and memory depend only on shapes.
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

# The SDXL base UNet as ComfyUI's model detection reads it from sd_xl_base_1.0.
SDXL_UNET_CONFIG = dict(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2], channel_mult=[1, 2, 4],
    transformer_depth=[0, 0, 2, 2, 10, 10], transformer_depth_output=[0, 0, 0, 2, 2, 2, 10, 10, 10],
    transformer_depth_middle=10, context_dim=2048, num_head_channels=64, use_linear_in_transformer=True,
    use_spatial_transformer=True, legacy=False, num_classes="sequential", adm_in_channels=2816,
    use_temporal_attention=False, use_temporal_resblock=False,
)
# ComfyUI's AutoencoderKL config for SD/SDXL VAEs (comfy/sd.py).
SD_VAE_DDCONFIG = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                   "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}


def _randomize(module: torch.nn.Module, generator: torch.Generator) -> None:
    # ComfyUI's ops skip weight init; give every tensor finite, variance-preserving values (norms as identity).
    for name, tensor in module.state_dict(keep_vars=True).items():
        data = tensor.data
        if not data.is_floating_point() or data.is_meta:
            continue
        leaf = name.rsplit(".", 1)[-1]
        if data.dim() == 1 and ("norm" in name or leaf == "weight" and "ln" in name):
            data.fill_(1.0 if leaf == "weight" else 0.0)
        elif leaf == "bias":
            data.zero_()
        else:
            # 1/sqrt(fan_in) keeps activations from vanishing through TAESD's deep conv stack.
            fan_in = max(1, data[0].numel()) if data.dim() > 1 else data.numel()
            noise = torch.randn(data.shape, generator=generator, device=generator.device)
            data.copy_(noise / fan_in**0.5)


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


def build_sdxl_state_dict(seed: int = 0, dtype: torch.dtype = torch.float16,
                          device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Return the state dict of an SDXL-shaped checkpoint of random weights, in the key layout of
    sd_xl_base_1.0 (``model.diffusion_model.``, ``conditioner.embedders.0/1.``, ``first_stage_model.``).

    Built part by part on ``device`` in ``dtype`` (about 7 GB in fp16; a GPU builds it in seconds). On the
    ``meta`` device the tensors have shapes only, which is enough for ComfyUI's model detection. Needs
    ``import_comfy`` to have run first.
    """
    import comfy.sdxl_clip
    import comfy.supported_models
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    device = torch.device(device)
    generator = torch.Generator(device=device if device.type != "meta" else "cpu").manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def add(prefix: str, part: dict[str, torch.Tensor]) -> None:
        for key, value in part.items():
            state[prefix + key] = value if not value.is_floating_point() else value.to(dtype)

    unet = UNetModel(**SDXL_UNET_CONFIG, dtype=dtype, device=device)
    _randomize(unet, generator)
    add("model.diffusion_model.", unet.state_dict())
    del unet
    clip = comfy.sdxl_clip.SDXLClipModel(device=device, dtype=dtype)
    _randomize(clip, generator)
    sdxl = comfy.supported_models.SDXL(SDXL_UNET_CONFIG)
    # ComfyUI's own conversion to the checkpoint layout (CLIP-G in open_clip names)
    add("", sdxl.process_clip_state_dict_for_saving(clip.state_dict()))
    del clip
    with torch.device(device):
        vae = AutoencoderKL(ddconfig=SD_VAE_DDCONFIG, embed_dim=4).to(dtype)
    _randomize(vae, generator)
    add("first_stage_model.", vae.state_dict())
    return {key: value.contiguous() for key, value in state.items()}


def detected_model_name(state_dict: dict[str, torch.Tensor]) -> str | None:
    """The class name of ComfyUI's model config detected from a checkpoint's UNet shapes (e.g. ``SDXL``)."""
    import comfy.model_detection

    config = comfy.model_detection.model_config_from_unet(state_dict, "model.diffusion_model.")
    return None if config is None else type(config).__name__


def write_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write the tiny checkpoint to ``path`` atomically (a temporary file renamed into place); return path."""
    return _write(path, build_tiny_state_dict(seed), {"dgx_pixels.tiny": "sd15-random", "seed": str(seed)})


def write_sdxl_checkpoint(path: Path, seed: int = 0, device: str = "cpu") -> Path:
    """Write the SDXL-shaped checkpoint (built on ``device``) to ``path`` atomically; return path."""
    state = {key: value.cpu() for key, value in build_sdxl_state_dict(seed, device=device).items()}
    return _write(path, state, {"dgx_pixels.random": "sdxl-random", "seed": str(seed)})


def _write(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(state, str(partial), metadata=metadata)
    partial.replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    from .comfy_runtime import import_comfy

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", type=Path, required=True, help="ComfyUI folder whose classes build the model")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .safetensors file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=["tiny", "sdxl"], default="tiny",
                        help="tiny SD1.5-shaped (default) or SDXL-shaped")
    parser.add_argument("--device", default="cpu", help="where to build the SDXL-shaped model (e.g. cuda)")
    args = parser.parse_args(argv)
    import_comfy(args.engine, cpu=args.device == "cpu")
    if args.model == "sdxl":
        print(write_sdxl_checkpoint(args.out, args.seed, args.device))  # noqa: T201 (command-line output)
    else:
        print(write_tiny_checkpoint(args.out, args.seed))  # noqa: T201 (command-line output)


if __name__ == "__main__":
    main()
