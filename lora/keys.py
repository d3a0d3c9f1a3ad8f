"""LoRA key names: which format a file uses, peft/diffusers → kohya conversion, and the base-model family.

Pure functions on key names and shapes (no ComfyUI import). ComfyUI maps kohya (``lora_unet_*``, ``lora_te*_``),
its own trainer's ``diffusion_model.*`` and old diffusers ``unet.*.processor.to_q`` names; peft's
``base_model.model.*`` and new diffusers ``unet.*.attn1.to_q.lora_A`` names load nothing on SD1.5/SDXL, so they
are renamed to kohya names here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

KOHYA = "kohya"
COMFYUI_TRAINER = "comfyui-trainer"
PEFT = "peft"
DIFFUSERS_OLD = "diffusers-old"
UNKNOWN = "unknown"

FAMILY_NAMES = {"sd15": "Stable Diffusion 1.x", "sd2": "Stable Diffusion 2.x", "sdxl": "SDXL", "sd3": "SD3",
                "flux": "Flux"}

# peft / diffusers tensor suffixes → kohya suffixes
_PEFT_SUFFIXES = {
    ".lora_A.default.weight": ".lora_down.weight",
    ".lora_B.default.weight": ".lora_up.weight",
    ".lora_A.weight": ".lora_down.weight",
    ".lora_B.weight": ".lora_up.weight",
    ".lora.down.weight": ".lora_down.weight",
    ".lora.up.weight": ".lora_up.weight",
    ".alpha": ".alpha",
}
_DOWN_SUFFIXES = (".lora_down.weight", ".lora_A.weight", ".lora_A.default.weight", "_lora.down.weight",
                  ".lora.down.weight", ".lora_linear_layer.down.weight")
_CONTEXT_DIM_FAMILY = {768: "sd15", 1024: "sd2", 2048: "sdxl"}


def detect_key_format(keys: Iterable[str]) -> str:
    """Return the naming scheme of a LoRA state dict: KOHYA, COMFYUI_TRAINER, PEFT, DIFFUSERS_OLD or UNKNOWN.

    PEFT covers both peft's ``base_model.model.`` prefix and new-style diffusers ``unet.…lora_A`` names (the
    ones ComfyUI does not map for SD1.5/SDXL).
    """
    keys = list(keys)
    if not keys:
        return UNKNOWN
    counts = {KOHYA: 0, COMFYUI_TRAINER: 0, PEFT: 0, DIFFUSERS_OLD: 0}
    for key in keys:
        if key.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")):
            counts[KOHYA] += 1
        elif key.startswith("diffusion_model."):
            counts[COMFYUI_TRAINER] += 1
        elif ".processor." in key:
            counts[DIFFUSERS_OLD] += 1
        elif key.startswith("base_model.model.") or ".lora_A." in key or ".lora_B." in key:
            counts[PEFT] += 1
    best = max(counts, key=counts.get)
    return best if counts[best] else UNKNOWN


def _peft_module_name(key: str) -> tuple[str, str] | None:
    """Split a peft/diffusers key into (kohya module name, kohya suffix), or None if it is not one."""
    for suffix, kohya_suffix in _PEFT_SUFFIXES.items():
        if key.endswith(suffix):
            module = key[: -len(suffix)]
            break
    else:
        return None
    for prefix in ("base_model.model.", "unet.base_model.model."):
        if module.startswith(prefix):
            module = module[len(prefix):]
    if module.startswith("text_encoder_2."):
        return "lora_te2_" + module[len("text_encoder_2."):].replace(".", "_"), kohya_suffix
    if module.startswith("text_encoder."):
        return "lora_te1_" + module[len("text_encoder."):].replace(".", "_"), kohya_suffix
    if module.startswith("text_model."):  # peft applied to a bare CLIPTextModel
        return "lora_te1_" + module.replace(".", "_"), kohya_suffix
    if module.startswith("unet."):
        module = module[len("unet."):]
    if module.startswith("diffusion_model."):
        module = module[len("diffusion_model."):]
    return "lora_unet_" + module.replace(".", "_"), kohya_suffix


def convert_to_kohya(state_dict: Mapping, alpha: float | None = None) -> tuple[dict, list[str]]:
    """Rename peft / new-diffusers keys to kohya names ComfyUI maps; return (new dict, keys left as they were).

    Keys already in a format ComfyUI maps are kept unchanged. ``alpha`` (peft's ``lora_alpha``, which peft keeps
    in adapter_config.json rather than in the file) is written as ``.alpha`` for every converted module that has
    none, so ComfyUI scales by alpha / rank exactly as peft does.
    """
    converted: dict = {}
    untouched: list[str] = []
    modules: dict[str, int] = {}
    for key, value in state_dict.items():
        if key.startswith(("lora_unet_", "lora_te", "diffusion_model.")) or ".processor." in key:
            converted[key] = value
            continue
        split = _peft_module_name(key)
        if split is None:
            converted[key] = value
            untouched.append(key)
            continue
        module, suffix = split
        converted[module + suffix] = value
        if suffix == ".lora_down.weight":
            modules[module] = int(value.shape[0])
    if alpha is not None:
        import torch

        for module in modules:
            converted.setdefault(module + ".alpha", torch.tensor(float(alpha)))
    return converted, untouched


def detect_family_from_shapes(shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """Return the base-model family a LoRA was made for ("sd15", "sd2", "sdxl", "sd3", "flux") or None.

    Decided by the cross-attention context width (the in-features of an ``attn2`` key/value down matrix:
    768 SD1.x, 1024 SD2.x, 2048 SDXL), by a second text encoder (SDXL), or by block names (Flux, SD3).
    """
    names = list(shapes)
    if any("double_blocks" in k or "single_blocks" in k or "single_transformer_blocks" in k for k in names):
        return "flux"
    if any("joint_blocks" in k or "context_block" in k for k in names):
        return "sd3"
    for key, shape in shapes.items():
        if "attn2" in key and ("to_k" in key or "to_v" in key) and key.endswith(_DOWN_SUFFIXES) and len(shape) >= 2:
            family = _CONTEXT_DIM_FAMILY.get(int(shape[1]))
            if family:
                return family
    if any(k.startswith(("lora_te2_", "text_encoder_2.")) for k in names):
        return "sdxl"
    for key, shape in shapes.items():
        if k_is_text_encoder(key) and "q_proj" in key and key.endswith(_DOWN_SUFFIXES) and len(shape) >= 2:
            return {768: "sd15", 1024: "sd2"}.get(int(shape[1]))
    return None


def k_is_text_encoder(key: str) -> bool:
    """True for keys of a text-encoder LoRA module (kohya ``lora_te*`` or diffusers ``text_encoder*``)."""
    return key.startswith(("lora_te", "text_encoder", "base_model.model.text_model", "text_model."))


def family_of_model(class_name: str, context_dim: int | None) -> str | None:
    """Return the family of a loaded ComfyUI model from its model class name and UNet ``context_dim``."""
    name = class_name.lower()
    if name.startswith("sdxl"):
        return "sdxl"
    if name.startswith("flux"):
        return "flux"
    if name == "sd3":
        return "sd3"
    if name in ("basemodel", "sd15", "sd20", "sd21unclipl", "sd21uncliph", "sd_x4upscaler"):
        return _CONTEXT_DIM_FAMILY.get(int(context_dim)) if context_dim else None
    return None


def family_mismatch_message(lora_name: str, lora_family: str, model_family: str) -> str:
    """The error text for a LoRA applied to a model of another family."""
    return (f"LoRA {lora_name!r} was made for {FAMILY_NAMES.get(lora_family, lora_family)} but the model is "
            f"{FAMILY_NAMES.get(model_family, model_family)}: its layers have other shapes, so it would load "
            f"nothing. Use a {FAMILY_NAMES.get(model_family, model_family)} LoRA or a "
            f"{FAMILY_NAMES.get(lora_family, lora_family)} checkpoint.")
