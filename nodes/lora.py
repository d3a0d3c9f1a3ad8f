"""LoRA nodes: a stacking loader that checks family and key counts instead of failing silently, and a trainer."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import folder_paths
import torch
from comfy_api.latest import io, ui

from ..metrics.counters import count_lora_loaded
from ..lora.apply import LoraMismatchError, apply_lora
from ..lora.files import load_state_dict, lora_info, read_header
from ..lora.train import LoraTrainer, TrainConfig

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
            count_lora_loaded()
            lines.append(report.summary() + (f" ({', '.join(extra)})" if extra else ""))
            log.info("DGX-Pixels LoRA stack: %s", lines[-1])
        return io.NodeOutput(model, clip, ", ".join(triggers), "\n".join(lines))


def resolve_dataset_folder(folder: str, input_dir: str | Path) -> Path:
    """The dataset folder ``folder`` inside ComfyUI's input directory; raises ValueError when it escapes it
    (absolute paths, ``..``) or is not a folder."""
    base = Path(input_dir).resolve()
    text = folder.strip()
    if not text or Path(text).is_absolute():
        raise ValueError(f"dataset_folder must be a folder relative to ComfyUI's input directory {base} "
                         f"(got {folder!r})")
    path = (base / text).resolve()
    if path != base and base not in path.parents:
        raise ValueError(f"dataset_folder {folder!r} points outside ComfyUI's input directory {base}; "
                         "put the images in a folder under it")
    if not path.is_dir():
        raise ValueError(f"dataset_folder {folder!r} is not a folder in {base}; put the images and their .txt "
                         "captions in a folder there and give its name")
    return path


def lora_file_name(name: str) -> str:
    """``name`` as a file name for models/loras (``.safetensors`` added); raises ValueError for an empty name,
    path separators or ``..``."""
    text = name.strip()
    if not text.endswith(".safetensors"):
        text += ".safetensors"
    stem = text[: -len(".safetensors")]
    if not stem or "/" in text or "\\" in text or ".." in text or text.startswith("."):
        raise ValueError(f"lora_name {name!r} must be a plain file name (no '/', '\\' or '..'), "
                         "for example 'pixel-knight'")
    return text


class TrainLora(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.TrainLora",
            display_name="Train Pixel LoRA",
            category="DGX-Pixels/lora",
            description="Trains a LoRA on a folder of images with .txt captions (nearest-neighbour upscaled, "
                        "aspect-ratio buckets) and writes it to models/loras in kohya format with metadata. The "
                        "same trainer as `dgx-pixels train-lora`.",
            is_output_node=True,
            inputs=[
                io.String.Input("dataset_folder", default="sprites",
                                tooltip="Folder of images and same-name .txt captions, relative to ComfyUI's "
                                        "input directory (paths outside it are refused)."),
                io.Combo.Input("ckpt_name", options=folder_paths.get_filename_list("checkpoints"),
                               tooltip="Base checkpoint to train on (models/checkpoints); any SD1.x/SD2.x/SDXL "
                                       "checkpoint ComfyUI loads."),
                io.String.Input("lora_name", default="pixel-lora",
                                tooltip="File name of the LoRA written into models/loras ('.safetensors' is "
                                        "added); a plain name, no folders."),
                io.Boolean.Input("overwrite", default=False,
                                 tooltip="Replace an existing LoRA of that name; off refuses to overwrite."),
                io.Int.Input("steps", default=500, min=1, max=100000,
                             tooltip="Optimizer steps (batches) to train."),
                io.Int.Input("rank", default=16, min=1, max=256,
                             tooltip="LoRA rank: capacity and file size of the adapter."),
                io.Float.Input("alpha", default=0.0, min=0.0, max=1024.0, step=0.5,
                               tooltip="LoRA alpha; the update is scaled by alpha / rank. 0 uses the rank "
                                       "(scale 1)."),
                io.Float.Input("learning_rate", default=1e-4, min=1e-7, max=0.1, step=1e-5,
                               tooltip="AdamW learning rate."),
                io.Int.Input("resolution", default=512, min=64, max=2048, step=64,
                             tooltip="Training size in pixels (a multiple of 64): sprites are upscaled with "
                                     "nearest-neighbour to about resolution² pixels."),
                io.Int.Input("batch_size", default=1, min=1, max=64,
                             tooltip="Images per step; more needs more memory (checked before training)."),
                io.String.Input("trigger_words", default="",
                                tooltip="Comma-separated words put in front of every caption and saved in the "
                                        "file's metadata (the LoRA Stack outputs them)."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1,
                             tooltip="Seed for the LoRA's initial weights, batch order, noise and timesteps."),
            ],
            outputs=[
                io.String.Output("saved_lora", display_name="lora name",
                                 tooltip="The file name written into models/loras, for a LoRA loader."),
            ],
        )

    @classmethod
    def execute(cls, dataset_folder, ckpt_name, lora_name, overwrite, steps, rank, alpha, learning_rate, resolution,
                batch_size, trigger_words, seed) -> io.NodeOutput:
        import comfy.model_management
        import comfy.utils

        data = resolve_dataset_folder(dataset_folder, folder_paths.get_input_directory())
        name = lora_file_name(lora_name)
        out = Path(folder_paths.get_folder_paths("loras")[0]) / name
        if out.exists() and not overwrite:
            raise ValueError(f"lora_name {name!r} already exists in {out.parent}; choose another name or turn "
                             "overwrite on")
        base = folder_paths.get_full_path_or_raise("checkpoints", ckpt_name)
        config = TrainConfig(
            data=data, base=base, out=out, steps=steps, rank=rank, alpha=alpha or None, lr=learning_rate,
            resolution=resolution, batch=batch_size, trigger=trigger_words, seed=seed, progress=False,
            cpu=comfy.model_management.get_torch_device().type != "cuda",
            engine_dir=Path(folder_paths.base_path))
        trainer = _GraphTrainer(config, comfy.utils.ProgressBar(steps))
        try:
            # ComfyUI executes nodes in inference mode, whose tensors cannot take part in autograd.
            with torch.inference_mode(False), torch.enable_grad():
                result = trainer.run()
        finally:
            del trainer
            comfy.model_management.cleanup_models_gc()
            comfy.model_management.soft_empty_cache()
        first = result.losses[0] if result.losses else math.nan
        last = result.losses[-1] if result.losses else math.nan
        summary = (f"{name}: {result.steps} steps, rank {rank}, alpha {alpha or rank:g}, {resolution}px, batch "
                   f"{batch_size}; loss {first:.4f} → {last:.4f}; {result.steps_per_s:.2f} steps/s; peak memory "
                   f"{result.peak_memory_bytes / 2**30:.2f} GiB")
        for notice in result.notices:
            summary += f"\nnotice: {notice}"
        log.info("DGX-Pixels train LoRA: %s", summary)
        return io.NodeOutput(name, ui=ui.PreviewText(summary))


class _GraphTrainer(LoraTrainer):
    """The trainer's own loop, with ComfyUI's progress bar and its Cancel button between steps."""

    def __init__(self, config: TrainConfig, bar):
        super().__init__(config, say=lambda text: log.info("DGX-Pixels train LoRA: %s", text))
        self.bar = bar

    def step(self, generator, batch=None):
        import comfy.model_management

        comfy.model_management.throw_exception_if_processing_interrupted()
        loss = super().step(generator, batch)
        self.bar.update_absolute(self.step_index, self.config.steps)
        return loss


NODES = [LoraStack, TrainLora]
