"""Reading LoRA files: header checks (truncated, corrupted), metadata of kohya, modelspec and ours, and the
kohya writer's round trip."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from dgx_pixels.lora.files import LoraFileError, load_state_dict, lora_info, read_header
from dgx_pixels.lora.kohya import build_metadata, kohya_module_name, save_atomic


@pytest.fixture
def lora_file(tmp_path):
    path = tmp_path / "pixel.safetensors"
    save_file({"lora_unet_a.lora_down.weight": torch.ones(4, 768), "lora_unet_a.lora_up.weight": torch.ones(320, 4)},
              str(path), metadata={"ss_network_dim": "4"})
    return path


def test_header_shapes_and_metadata(lora_file):
    header = read_header(lora_file)
    assert header.shapes == {"lora_unet_a.lora_down.weight": (4, 768), "lora_unet_a.lora_up.weight": (320, 4)}
    assert header.metadata == {"ss_network_dim": "4"}
    assert set(load_state_dict(lora_file)) == set(header.shapes)


@pytest.mark.parametrize("keep", [0, 5, 40, -100])
def test_truncated_file_gives_a_clear_error(lora_file, keep):
    data = lora_file.read_bytes()
    lora_file.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(LoraFileError, match="truncated|not a safetensors"):
        read_header(lora_file)
    with pytest.raises(LoraFileError):
        load_state_dict(lora_file)


def test_corrupted_header_and_missing_file(tmp_path, lora_file):
    data = bytearray(lora_file.read_bytes())
    data[8:12] = b"\xff\xfe{{"
    lora_file.write_bytes(bytes(data))
    with pytest.raises(LoraFileError, match="corrupted"):
        read_header(lora_file)
    with pytest.raises(LoraFileError, match="does not exist"):
        read_header(tmp_path / "nope.safetensors")


def test_kohya_metadata_fields():
    info = lora_info({"ss_network_dim": "16", "ss_network_alpha": "8.0", "ss_base_model_version": "sdxl_base_v1-0",
                      "ss_tag_frequency": json.dumps({"1_pix": {"pixel art": 12, "knight": 3, "sword": 5}}),
                      "ss_output_name": "pix"})
    assert (info.rank, info.alpha, info.base_model, info.title) == (16, 8.0, "sdxl", "pix")
    assert info.trigger_words == ["pixel art", "sword", "knight"]


def test_modelspec_and_ours_take_precedence():
    info = lora_info({"modelspec.architecture": "stable-diffusion-v1/lora", "modelspec.trigger_phrase": "pxart",
                      "ss_base_model_version": "sdxl_base_v1-0",
                      "dgx_pixels.trigger_words": json.dumps(["pxl sprite", "16-bit"]),
                      "dgx_pixels.recommended_strength": "0.8", "dgx_pixels.native_pixel_scale": "8"})
    assert info.base_model == "sd15"
    assert info.trigger_words == ["pxl sprite", "16-bit"]
    assert info.trigger_text == "pxl sprite, 16-bit"
    assert info.recommended_strength == 0.8 and info.native_pixel_scale == 8
    assert lora_info({}).trigger_text == "" and lora_info({}).base_model is None


def test_writer_round_trip_is_atomic(tmp_path):
    name = kohya_module_name("input_blocks.1.1.transformer_blocks.0.attn1.to_out.0")
    assert name == "lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_out_0"
    metadata = build_metadata(family="sd15", rank=4, alpha=2.0, steps=10, learning_rate=1e-4, resolution=512,
                              batch=1, trigger_words=["pxl"], base_name="base.safetensors", title="t",
                              native_pixel_scale=8, images=3)
    out = tmp_path / "sub" / "t.safetensors"
    save_atomic({f"{name}.lora_down.weight": torch.zeros(4, 320), f"{name}.alpha": torch.tensor(2.0)}, out, metadata)
    assert [p.name for p in out.parent.iterdir()] == ["t.safetensors"]
    info = lora_info(read_header(out).metadata)
    assert (info.rank, info.alpha, info.base_model, info.trigger_words, info.native_pixel_scale) == \
        (4, 2.0, "sd15", ["pxl"], 8)
    assert read_header(out).metadata["modelspec.architecture"] == "stable-diffusion-v1/lora"
