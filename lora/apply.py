"""Applying a LoRA with ComfyUI's own key map, counting which file keys it actually loaded.

Needs ``comfy.*`` importable (inside the engine, or after ``comfy_runtime.import_comfy``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .keys import PEFT, convert_to_kohya, detect_family_from_shapes, detect_key_format, family_mismatch_message
from .keys import family_of_model as _family_of_model

log = logging.getLogger("dgx_pixels.lora")


class LoraMismatchError(ValueError):
    """The LoRA does not fit the model: another family, or keys that ComfyUI cannot map."""


@dataclass
class LoraApplyReport:
    """How many keys of the file ComfyUI used, and which it did not."""

    name: str
    key_format: str
    keys_in_file: int
    keys_loaded: int
    not_loaded: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.name}: {self.keys_loaded}/{self.keys_in_file} keys loaded ({self.key_format} format)"
        if self.not_loaded:
            shown = ", ".join(self.not_loaded[:8]) + (" …" if len(self.not_loaded) > 8 else "")
            text += f"; not loaded: {shown}"
        return text


class _ReadTracker(dict):
    """A dict that remembers which keys ComfyUI's ``load_lora`` read (those are the keys it loaded)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.read.add(key)
        return value

    def get(self, key, default=None):
        value = super().get(key, default)
        if key in self:
            self.read.add(key)
        return value


def family_of_model(model_patcher) -> str | None:
    """Return the family ("sd15", "sdxl", …) of a ComfyUI MODEL, or None when it is none we know."""
    base = model_patcher.model
    context_dim = base.model_config.unet_config.get("context_dim")
    return _family_of_model(type(base).__name__, context_dim)


def apply_lora(model, clip, state_dict: dict, strength_model: float, strength_clip: float, *, name: str = "lora",
               alpha: float | None = None, check_family: bool = True):
    """Apply one LoRA state dict; return (model, clip, LoraApplyReport).

    Raises LoraMismatchError before patching anything when the LoRA's family (from its shapes) differs from the
    model's. Keys are counted against ComfyUI's own map (``model_lora_keys_unet/clip`` + ``load_lora``); a key
    counts as loaded only when it was read and its target weight exists in the model or CLIP.
    """
    import comfy.lora
    import comfy.lora_convert

    if check_family and model is not None:
        lora_family = detect_family_from_shapes({k: tuple(v.shape) for k, v in state_dict.items()})
        model_family = family_of_model(model)
        if lora_family and model_family and lora_family != model_family:
            raise LoraMismatchError(family_mismatch_message(name, lora_family, model_family))
    key_format = detect_key_format(state_dict)
    if key_format == PEFT:
        state_dict, _ = convert_to_kohya(state_dict, alpha=alpha)
    state_dict = comfy.lora_convert.convert_lora(state_dict)

    key_map: dict = {}
    if model is not None:
        key_map = comfy.lora.model_lora_keys_unet(model.model, key_map)
    if clip is not None:
        key_map = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, key_map)
    tracked = _ReadTracker(state_dict)
    patches = comfy.lora.load_lora(tracked, key_map, log_missing=False)

    applied: set = set()
    new_model, new_clip = model, clip
    if model is not None:
        new_model = model.clone()
        applied |= set(new_model.add_patches(patches, strength_model))
    if clip is not None:
        new_clip = clip.clone()
        applied |= set(new_clip.add_patches(patches, strength_clip))

    loaded = set(tracked.read)
    unapplied_targets = {target for target in patches if target not in applied}
    if unapplied_targets:
        # A read key whose target weight is absent (e.g. a CLIP key with no CLIP given) did not load either.
        for lora_prefix, target in key_map.items():
            target_key = target[0] if isinstance(target, tuple) else target
            if target_key in unapplied_targets:
                loaded -= {k for k in loaded if k.startswith(lora_prefix + ".")}
    not_loaded = sorted(k for k in state_dict if k not in loaded)
    report = LoraApplyReport(name=name, key_format=key_format, keys_in_file=len(state_dict),
                             keys_loaded=len(state_dict) - len(not_loaded), not_loaded=not_loaded)
    return new_model, new_clip, report
