"""The bundled workflows: each UI-format file (for the editor) and its API-format twin (for scripts and the bridge)
describe the same graph, use only node types that exist, and name the models they expect."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

PACK_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = PACK_ROOT / "workflows"
EXPECTED = {"text_to_sprite", "image_to_pixel_art", "fake_pixel_art_cleanup", "batch_variants_shared_palette",
            "animation_to_bevy", "seamless_tileset"}
CORE_TYPES = {"CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode", "SaveImage",
              "LoadImage", "PreviewImage"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
MODEL_DIRECTORIES = {"CheckpointLoaderSimple": "checkpoints", "DGXPixels.LoraStack": "loras"}


def ui_workflows() -> list[Path]:
    return sorted(p for p in WORKFLOWS.glob("*.json")
                  if not p.name.endswith((".api.json", ".params.json")) and "nodes" in json.loads(p.read_text()))


def pack_node_ids() -> set[str]:
    ids = set()
    for path in (PACK_ROOT / "nodes").glob("*.py"):
        ids |= set(re.findall(r'node_id="(DGXPixels\.[A-Za-z0-9_.]+)"', path.read_text()))
    return ids


def twin_of(path: Path) -> dict:
    return json.loads((path.parent / "api" / (path.stem + ".api.json")).read_text())


def literal_widget_values(node: dict) -> dict:
    """Name → value of the widgets that are not driven by a link, read from ``widgets_values`` by position."""
    values = list(node.get("widgets_values") or [])
    named, index = {}, 0
    for slot in node.get("inputs", []):
        if "widget" not in slot:
            continue
        value = values[index]
        index += 1
        if index < len(values) and values[index] in CONTROL_VALUES and slot["name"] in ("seed", "noise_seed"):
            index += 1  # the editor's "control after generate" value
        if node["type"] == "LoadImage" and slot["name"] == "image" and index < len(values) and values[index] == "image":
            index += 1  # the upload widget's value
        if slot.get("link") is None:
            named[slot["name"]] = value
    return named


def test_every_expected_workflow_is_bundled_with_its_twin():
    names = {p.stem for p in ui_workflows()}
    assert EXPECTED <= names, f"missing: {sorted(EXPECTED - names)}"
    for path in ui_workflows():
        assert (path.parent / "api" / (path.stem + ".api.json")).exists(), f"{path.name} has no API twin"


@pytest.mark.parametrize("path", ui_workflows(), ids=lambda p: p.stem)
def test_ui_and_api_twins_describe_the_same_graph(path):
    ui, api = json.loads(path.read_text()), twin_of(path)
    nodes = {str(node["id"]): node for node in ui["nodes"]}
    assert set(nodes) == set(api), "the two files have different node ids"
    links = {link[0]: link for link in ui["links"]}
    for node_id, node in nodes.items():
        entry = api[node_id]
        assert entry["class_type"] == node["type"]
        linked = {}
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                link = links[slot["link"]]
                assert link[3] == node["id"], f"link {link[0]} does not end at node {node_id}"
                linked[slot["name"]] = [str(link[1]), link[2]]
        api_links = {name: value for name, value in entry["inputs"].items() if isinstance(value, list)}
        assert api_links == linked, f"node {node_id} ({node['type']}): links differ"
        api_literals = {name: value for name, value in entry["inputs"].items() if not isinstance(value, list)}
        assert api_literals == literal_widget_values(node), f"node {node_id} ({node['type']}): widget values differ"
    for link in ui["links"]:
        origin = nodes[str(link[1])]
        assert link[0] in origin["outputs"][link[2]]["links"], f"link {link[0]} missing on its origin's output"


@pytest.mark.parametrize("path", ui_workflows(), ids=lambda p: p.stem)
def test_workflows_use_existing_node_types_and_name_their_models(path):
    ui = json.loads(path.read_text())
    known = pack_node_ids() | CORE_TYPES
    unknown = {node["type"] for node in ui["nodes"]} - known
    assert not unknown, f"node types that no module declares: {sorted(unknown)}"
    for node in ui["nodes"]:
        directory = MODEL_DIRECTORIES.get(node["type"])
        if directory is None:
            continue
        models = node["properties"].get("models")
        assert models, f"{node['type']} (node {node['id']}) names no model in properties.models"
        for model in models:
            assert model["directory"] == directory and model["name"].endswith(".safetensors")
            assert model["name"] in node["widgets_values"], "the named model is not the one the widget loads"
