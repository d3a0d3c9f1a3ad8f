"""LoRA nodes: a stacking loader that checks family and key counts instead of failing silently."""

from __future__ import annotations

import logging

import folder_paths
from comfy_api.latest import io

from ..lora.apply import LoraMismatchError, apply_lora
from ..lora.files import load_state_dict, lora_info, read_header

SLOTS = 4
NONE = "None"
log = logging.getLogger("dgx_pixels.lora")


def _slot_inputs(index: int, lora_names: list[str]) -> list:
    return [
        io.Combo.Input(f"lora_{index}", options=[NONE, *lora_names], default=NONE,
                       tooltip=f"LoRA file of slot {index} (models/loras); None skips the slot."),
        io.Float.Input(f"strength_model_{index}", default=1.0, min=-10.0, max=10.0, step=0.01,
                       tooltip=f"How strongly slot {index} changes the diffusion model (0 leaves it unchanged)."),
        io.Float.Input(f"strength_clip_{index}", default=1.0, min=-10.0, max=10.0, step=0.01,
                       tooltip=f"How strongly slot {index} changes the text encoder (0 leaves it unchanged)."),
    ]


class LoraStack(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        lora_names = folder_paths.get_filename_list("loras")
        return io.Schema(
            node_id="DGXPixels.LoraStack",
            display_name="LoRA Stack (checked)",
            category="DGX-Pixels/lora",
            description="Applies up to four LoRAs in order. Checks each file's base-model family first and counts "
                        "the keys ComfyUI loaded, so a LoRA that would do nothing fails loudly. Outputs the trigger "
                        "words from the files' metadata for the prompt.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model the LoRAs are applied to."),
                io.Clip.Input("clip", tooltip="The text encoder the LoRAs are applied to."),
                io.Combo.Input("unloaded_keys", options=["error", "warn"], default="error",
                               tooltip="What to do when a file has keys ComfyUI cannot map to the model: stop with "
                                       "an error naming them, or log a warning and go on."),
                *[item for index in range(1, SLOTS + 1) for item in _slot_inputs(index, lora_names)],
            ],
            outputs=[
                io.Model.Output("patched_model", display_name="MODEL", tooltip="The model with the LoRAs applied."),
                io.Clip.Output("patched_clip", display_name="CLIP", tooltip="The text encoder with the LoRAs applied."),
                io.String.Output("trigger_text", display_name="trigger words",
                                 tooltip="Trigger words of the applied LoRAs, comma separated, for the prompt."),
                io.String.Output("report", display_name="report",
                                 tooltip="One line per LoRA: keys loaded / keys in the file, family, metadata."),
            ],
        )

    @classmethod
    def execute(cls, model, clip, unloaded_keys="error", **slots) -> io.NodeOutput:
        triggers: list[str] = []
        lines: list[str] = []
        for index in range(1, SLOTS + 1):
            name = slots.get(f"lora_{index}", NONE)
            strength_model = float(slots.get(f"strength_model_{index}", 1.0))
            strength_clip = float(slots.get(f"strength_clip_{index}", 1.0))
            if not name or name == NONE:
                continue
            path = folder_paths.get_full_path_or_raise("loras", name)
            header = read_header(path)
            info = lora_info(header.metadata)
            if strength_model == 0 and strength_clip == 0:
                lines.append(f"{name}: skipped (both strengths 0)")
                continue
            state_dict = load_state_dict(path)
            model, clip, report = apply_lora(model, clip, state_dict, strength_model, strength_clip, name=name,
                                             alpha=info.alpha)
            if report.not_loaded:
                message = (f"{report.summary()}. These keys match no layer of this model: the LoRA is for another "
                           "model or in a key format ComfyUI does not map.")
                if unloaded_keys == "error" or report.keys_loaded == 0:
                    raise LoraMismatchError(message)
                log.warning("DGX-Pixels LoRA stack: %s", message)
            for word in info.trigger_words:
                if word not in triggers:
                    triggers.append(word)
            extra = []
            if info.recommended_strength is not None:
                extra.append(f"recommended strength {info.recommended_strength:g}")
            if info.native_pixel_scale:
                extra.append(f"native pixel scale {info.native_pixel_scale}x")
            lines.append(report.summary() + (f" ({', '.join(extra)})" if extra else ""))
            log.info("DGX-Pixels LoRA stack: %s", lines[-1])
        return io.NodeOutput(model, clip, ", ".join(triggers), "\n".join(lines))


NODES = [LoraStack]
