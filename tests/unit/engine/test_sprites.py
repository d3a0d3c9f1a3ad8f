"""The sprite helpers of the bridge: the text-to-sprite manifest, palettes as colours, preview nodes, confinement."""

from __future__ import annotations

import pytest

from dgx_pixels.engine.params import ParameterError, bundled_workflows
from dgx_pixels.engine.sprites import built_in_sprite_workflow, palette_hex_file, sprite_workflow, without_previews
from dgx_pixels.export.paths import confine
from dgx_pixels.mcp_bridge.tool_inputs import decode_data_url


def test_bundled_text_to_sprite_manifest_writes_the_sprite_settings():
    workflow = bundled_workflows()["text_to_sprite"]
    prompt = workflow.apply({"prompt": "a slime", "width": 24, "height": 24, "palette": "file",
                             "palette_file": "palettes/x.hex", "lora": "None", "seed": 5})
    by_class = {node["class_type"]: node["inputs"] for node in prompt.values()}
    assert by_class["DGXPixels.Pixelize"]["width"] == 24 and by_class["DGXPixels.PaletteLoad"]["name"] == "file"
    assert by_class["DGXPixels.LoraStack"]["lora_1"] == "None" and by_class["KSampler"]["seed"] == 5
    assert "a slime" in [n["inputs"].get("text") for n in prompt.values()]


def test_built_in_workflow_has_the_manifest_parameter_names():
    built = built_in_sprite_workflow()
    bundled = bundled_workflows()["text_to_sprite"]
    assert set(built.params) <= set(bundled.params)
    classes = [node["class_type"] for node in built.apply({"prompt": "x"}).values()]
    assert classes[0] == "CheckpointLoaderSimple" and classes[-1] == "SaveImage"
    assert sprite_workflow([]).name == "text_to_sprite"  # no manifests there: the built-in one


def test_preview_nodes_nothing_reads_are_dropped():
    prompt = bundled_workflows()["text_to_sprite"].prompt
    kept = without_previews(prompt)
    assert "DGXPixels.PixelPreview" not in {n["class_type"] for n in kept.values()}
    assert len(kept) == len(prompt) - 1


def test_palette_colours_become_a_content_addressed_hex_file():
    name, data = palette_hex_file(["#1A1C2C", "5d275d"])
    assert data == b"1a1c2c\n5d275d\n" and name.endswith(".hex")
    assert palette_hex_file(["#1a1c2c", "#5d275d"])[0] == name
    for bad in (["#12345"], ["red"], [], ["#000000"] * 257):
        with pytest.raises(ValueError):
            palette_hex_file(bad)
    with pytest.raises(ValueError):
        decode_data_url("data:image/png;base64,not base64!")


def test_confinement_resolves_links_and_relative_paths(tmp_path):
    root = tmp_path / "root"
    (root / "game").mkdir(parents=True)
    (root / "escape").symlink_to(tmp_path, target_is_directory=True)
    assert confine("game", [root]) == (root / "game").resolve()
    assert confine(str(root / "game" / "new"), [root]) == (root / "game" / "new").resolve()
    for bad in ("..", "escape", "game/../..", "/etc", str(tmp_path)):
        with pytest.raises(PermissionError, match="outside the configured project roots"):
            confine(bad, [root])
    with pytest.raises(PermissionError, match="--project-root"):
        confine("game", [])


def test_manifest_errors_stay_parameter_errors():
    with pytest.raises(ParameterError, match="did you mean 'palette'"):
        bundled_workflows()["text_to_sprite"].apply({"palete": "pico-8"})
