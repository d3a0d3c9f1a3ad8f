"""generate/compare without an engine: slugs, file names, option parsing, the comparison prompt, the parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dgx_pixels.cli.main import build_parser
from dgx_pixels.engine.requests import (
    CATEGORIES,
    TINY_CHECKPOINT,
    CompareRequest,
    GenerateRequest,
    comparison_prompt,
    missing_checkpoint_message,
    parse_lora,
    parse_strengths,
    slugify,
    sprite_file_name,
    variant_names,
)
from dgx_pixels.export.bevy import CATEGORIES as EXPORT_CATEGORIES

WORKFLOWS = Path(__file__).resolve().parents[3] / "workflows"


def test_categories_are_the_exporters():
    assert CATEGORIES == EXPORT_CATEGORIES


@pytest.mark.parametrize("prompt, slug", [
    ("medieval knight", "medieval-knight"), ("  Red SLIME!! (big) ", "red-slime-big"),
    ("a 16-bit sword", "a-16-bit-sword"), ("Épée — magique", "p-e-magique"),
])
def test_slug_from_prompt(prompt, slug):
    assert slugify(prompt) == slug


def test_slug_is_cut_at_a_word_boundary():
    assert slugify("alpha beta gamma delta", max_chars=12) == "alpha-beta"
    with pytest.raises(ValueError, match="--name"):
        slugify("!!! ???")


def test_file_names_follow_the_seed_convention():
    assert sprite_file_name("character", "medieval-knight", "base", 3) == "character_medieval-knight_base_0003.png"
    assert variant_names("base", 1) == ["base"] and variant_names("v", 3) == ["v-1", "v-2", "v-3"]
    for bad in (("monster", "knight", "base", 0), ("item", "Knight", "base", 0), ("item", "a_b", "base", 0),
                ("item", "sword", "base", 10000)):
        with pytest.raises(ValueError):
            sprite_file_name(*bad)


def test_lora_and_strength_options():
    assert parse_lora("pixel.safetensors") == ("pixel.safetensors", 1.0)
    assert parse_lora("pixel.safetensors:0.6") == ("pixel.safetensors", 0.6)
    assert parse_lora("sub/dir:x.safetensors") == ("sub/dir:x.safetensors", 1.0)
    assert parse_strengths("0, 0.6,1.0") == [0.0, 0.6, 1.0]
    for bad in ("", "0,a", "0,1,2,3"):
        with pytest.raises(ValueError, match="strengths"):
            parse_strengths(bad)


def test_generate_request_checks_its_options():
    GenerateRequest("item", "iron sword").check()
    for kwargs, message in [(dict(frames=0), "frames"), (dict(count=65), "count"),
                            (dict(palette="pico-8", colors=8), "not both"), (dict(category="monster"), "category"),
                            (dict(name="Bad Name"), "name")]:
        with pytest.raises(ValueError, match=message):
            GenerateRequest(**{"category": "item", "prompt": "iron sword", **kwargs}).check()


def test_missing_checkpoint_message_says_what_where_and_the_tiny_way():
    text = missing_checkpoint_message("sd_xl_base_1.0.safetensors", [])
    assert "sd_xl_base_1.0.safetensors" in text and "models/checkpoints" in text
    assert f"--checkpoint {TINY_CHECKPOINT}" in text and "tiny_checkpoint" in text


def test_comparison_prompt_runs_every_lora_at_every_strength_with_one_seed():
    request = CompareRequest("knight", ["a.safetensors", "b.safetensors"], [0.0, 1.0], seed=7, size=16)
    prompt = comparison_prompt(request)
    stacks = [n["inputs"] for n in prompt.values() if n["class_type"] == "DGXPixels.LoraStack"]
    assert [(s["lora_1"], s["strength_model_1"]) for s in stacks] == [
        ("a.safetensors", 0.0), ("a.safetensors", 1.0), ("b.safetensors", 0.0), ("b.safetensors", 1.0)]
    assert {n["inputs"]["seed"] for n in prompt.values() if n["class_type"] == "KSampler"} == {7}
    grid = next(n["inputs"] for n in prompt.values() if n["class_type"] == "DGXPixels.CompareGrid")
    assert grid["row_labels"] == "a\nb" and grid["column_labels"] == "0, 1" and grid["columns"] == 2
    assert len([k for k in grid if k.startswith("image")]) == 4
    assert prompt[max(prompt, key=int)]["class_type"] == "SaveImage"


def test_bundled_comparison_is_four_loras_by_three_strengths():
    api = json.loads((WORKFLOWS / "api" / "compare_loras.api.json").read_text())
    assert sum(n["class_type"] == "KSampler" for n in api.values()) == 12
    stacks = [n["inputs"] for n in api.values() if n["class_type"] == "DGXPixels.LoraStack"]
    assert len({s["lora_1"] for s in stacks}) == 4 and {s["strength_model_1"] for s in stacks} == {0.0, 0.6, 1.0}


def test_compare_request_refuses_too_many_loras():
    with pytest.raises(ValueError, match="LoRAs"):
        CompareRequest("x", [f"{n}.safetensors" for n in range(5)]).check()


def test_cli_wires_generate_and_compare():
    args = build_parser().parse_args(["generate", "character", "medieval knight", "--size", "32", "--lora",
                                      "a.safetensors:0.5", "--bevy", "game", "--count", "2"])
    assert (args.category, args.prompt, args.size, args.lora, args.bevy, args.count) == \
        ("character", "medieval knight", 32, "a.safetensors:0.5", "game", 2)
    args = build_parser().parse_args(["compare", "knight", "--lora", "a", "--lora", "b", "--strengths", "0,1"])
    assert args.lora == ["a", "b"] and args.strengths == "0,1"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "monster", "x"])


def test_bad_strengths_exit_with_the_invalid_code(capsys):
    args = build_parser().parse_args(["compare", "knight", "--lora", "a", "--strengths", "x",
                                      "--engine", "http://127.0.0.1:9"])
    assert args.func(args) == 2
    assert "strengths" in capsys.readouterr().err
