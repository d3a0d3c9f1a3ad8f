"""LoRA key formats, peft → kohya conversion and base-family detection (pure, no ComfyUI)."""

from __future__ import annotations

import pytest
import torch

from dgx_pixels.lora.keys import (
    COMFYUI_TRAINER,
    DIFFUSERS_OLD,
    KOHYA,
    PEFT,
    UNKNOWN,
    convert_to_kohya,
    detect_family_from_shapes,
    detect_key_format,
    family_mismatch_message,
    family_of_model,
)

UNET = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"


def test_formats_are_told_apart():
    assert detect_key_format([f"lora_unet_{UNET.replace('.', '_')}.lora_down.weight"]) == KOHYA
    assert detect_key_format(["diffusion_model.input_blocks.1.1.proj_in.lora_up.weight"]) == COMFYUI_TRAINER
    assert detect_key_format([f"base_model.model.{UNET}.lora_A.weight"]) == PEFT
    assert detect_key_format([f"unet.{UNET}.lora_B.weight"]) == PEFT
    assert detect_key_format(["unet.down_blocks.0.attentions.0.processor.to_q_lora.up.weight"]) == DIFFUSERS_OLD
    assert detect_key_format([]) == UNKNOWN
    assert detect_key_format(["something.else"]) == UNKNOWN


@pytest.mark.parametrize("prefix", ["base_model.model.", "unet.", "unet.base_model.model."])
def test_peft_unet_names_become_kohya_with_alpha(prefix):
    down, up = torch.zeros(4, 768), torch.zeros(320, 4)
    converted, untouched = convert_to_kohya({f"{prefix}{UNET}.lora_A.weight": down,
                                             f"{prefix}{UNET}.lora_B.weight": up}, alpha=2.0)
    name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    assert untouched == []
    assert set(converted) == {f"{name}.lora_down.weight", f"{name}.lora_up.weight", f"{name}.alpha"}
    assert converted[f"{name}.alpha"].item() == 2.0
    assert converted[f"{name}.lora_down.weight"] is down


def test_peft_text_encoder_names_and_default_adapter_suffix():
    converted, _ = convert_to_kohya({
        "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(2, 768),
        "text_encoder_2.text_model.encoder.layers.3.mlp.fc1.lora_B.default.weight": torch.zeros(5120, 2),
    })
    assert "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight" in converted
    assert "lora_te2_text_model_encoder_layers_3_mlp_fc1.lora_up.weight" in converted


def test_mapped_formats_are_left_alone_and_unknown_reported():
    kept = {"lora_unet_x.lora_down.weight": torch.zeros(1), "diffusion_model.a.lora_up.weight": torch.zeros(1),
            "weird": torch.zeros(1)}
    converted, untouched = convert_to_kohya(kept, alpha=4)
    assert set(converted) == set(kept)
    assert untouched == ["weird"]


@pytest.mark.parametrize(("context", "family"), [(768, "sd15"), (1024, "sd2"), (2048, "sdxl")])
def test_family_from_cross_attention_width(context, family):
    shapes = {f"lora_unet_{UNET.replace('.', '_')}.lora_down.weight": (4, context),
              f"lora_unet_{UNET.replace('.', '_')}.lora_up.weight": (320, 4)}
    assert detect_family_from_shapes(shapes) == family
    assert detect_family_from_shapes({f"base_model.model.{UNET}.lora_A.weight": (4, context)}) == family


def test_family_from_text_encoders_and_block_names():
    assert detect_family_from_shapes({"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": (4, 1280)}) \
        == "sdxl"
    assert detect_family_from_shapes({"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight":
                                      (4, 768)}) == "sd15"
    assert detect_family_from_shapes({"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": (4, 3072)}) == "flux"
    assert detect_family_from_shapes({"lora_unet_input_blocks_1_0_in_layers_2.lora_down.weight": (4, 320)}) is None


def test_model_family_and_mismatch_message():
    assert family_of_model("BaseModel", 768) == "sd15"
    assert family_of_model("SDXL", 2048) == "sdxl"
    assert family_of_model("Flux", None) == "flux"
    assert family_of_model("WAN21", 4096) is None
    message = family_mismatch_message("pixel.safetensors", "sdxl", "sd15")
    assert "pixel.safetensors" in message and "SDXL" in message and "Stable Diffusion 1.x" in message
