"""UI → API conversion against a small object_info: widget order, control_after_generate values, PrimitiveNode,
Reroute, muted and bypassed nodes, subgraphs refused."""

from __future__ import annotations

import pytest

from dgx_pixels.mcp_bridge.ui_to_api import UIConversionError, ui_to_api

OBJECT_INFO = {
    "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["tiny.safetensors"], {}]}},
                               "input_order": {"required": ["ckpt_name"]}},
    "EmptyLatentImage": {"input": {"required": {"width": ["INT", {}], "height": ["INT", {}],
                                                "batch_size": ["INT", {}]}}},
    "KSampler": {"input": {"required": {
        "model": ["MODEL"], "seed": ["INT", {"control_after_generate": True}], "steps": ["INT", {}],
        "cfg": ["FLOAT", {}], "sampler_name": [["euler"], {}], "scheduler": [["normal"], {}],
        "positive": ["CONDITIONING"], "negative": ["CONDITIONING"], "latent_image": ["LATENT"],
        "denoise": ["FLOAT", {}]}},
        "input_order": {"required": ["model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive",
                                     "negative", "latent_image", "denoise"]}},
    "CLIPTextEncode": {"input": {"required": {"text": ["STRING", {"multiline": True}], "clip": ["CLIP"]}}},
    "LatentUpscaleBy": {"input": {"required": {"samples": ["LATENT"], "upscale_method": [["nearest-exact"], {}],
                                               "scale_by": ["FLOAT", {}]}}},
    "VAEDecode": {"input": {"required": {"samples": ["LATENT"], "vae": ["VAE"]}}},
    "SaveImage": {"input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {}]}}},
}


def node(node_id, kind, inputs=(), widgets=(), mode=0, outputs=()):
    return {"id": node_id, "type": kind, "mode": mode, "widgets_values": list(widgets),
            "inputs": [dict(i) for i in inputs], "outputs": [dict(o) for o in outputs]}


def workflow(mute_upscale=False, bypass_upscale=True):
    # links: [id, from_node, from_slot, to_node, to_slot, type]
    links = [[1, 1, 0, 5, 0, "MODEL"], [2, 1, 1, 2, 0, "CLIP"], [3, 1, 1, 3, 0, "CLIP"], [4, 2, 0, 5, 1, "CONDITIONING"],
             [5, 3, 0, 5, 2, "CONDITIONING"], [6, 4, 0, 5, 3, "LATENT"], [7, 5, 0, 10, 0, "LATENT"],
             [8, 10, 0, 11, 0, "LATENT"], [9, 11, 0, 6, 0, "LATENT"], [10, 1, 2, 6, 1, "VAE"],
             [11, 6, 0, 7, 0, "IMAGE"], [12, 9, 0, 5, 4, "INT"]]
    return {"nodes": [
        node(1, "CheckpointLoaderSimple", widgets=["tiny.safetensors"]),
        node(2, "CLIPTextEncode", [{"name": "clip", "type": "CLIP", "link": 2}], ["a knight"]),
        node(3, "CLIPTextEncode", [{"name": "clip", "type": "CLIP", "link": 3}], ["blurry"]),
        node(4, "EmptyLatentImage", widgets=[64, 48, 1]),
        node(5, "KSampler", [{"name": "model", "type": "MODEL", "link": 1},
                             {"name": "positive", "type": "CONDITIONING", "link": 4},
                             {"name": "negative", "type": "CONDITIONING", "link": 5},
                             {"name": "latent_image", "type": "LATENT", "link": 6},
                             {"name": "seed", "type": "INT", "link": 12, "widget": {"name": "seed"}}],
             [5, "randomize", 4, 6.5, "euler", "normal", 1.0]),
        node(9, "PrimitiveNode", outputs=[{"type": "INT", "links": [12]}], widgets=[1234, "fixed"]),
        node(10, "LatentUpscaleBy", [{"name": "samples", "type": "LATENT", "link": 7}], ["nearest-exact", 2.0],
             mode=4 if bypass_upscale else (2 if mute_upscale else 0), outputs=[{"type": "LATENT", "links": [8]}]),
        node(11, "Reroute", [{"name": "", "type": "*", "link": 8}], outputs=[{"type": "LATENT", "links": [9]}]),
        node(6, "VAEDecode", [{"name": "samples", "type": "LATENT", "link": 9}, {"name": "vae", "type": "VAE",
                                                                                  "link": 10}]),
        node(7, "SaveImage", [{"name": "images", "type": "IMAGE", "link": 11}], ["knight"]),
        {"id": 20, "type": "Note", "mode": 0, "widgets_values": ["remember me"]},
    ], "links": links}


def test_widgets_links_primitive_reroute_and_bypass():
    prompt = ui_to_api(workflow(), OBJECT_INFO)
    assert set(prompt) == {"1", "2", "3", "4", "5", "6", "7"}
    sampler = prompt["5"]["inputs"]
    # "randomize" is the control_after_generate value, not the next widget; the PrimitiveNode's value wins.
    assert sampler == {"seed": 1234, "steps": 4, "cfg": 6.5, "sampler_name": "euler", "scheduler": "normal",
                       "denoise": 1.0, "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                       "latent_image": ["4", 0]}
    assert prompt["4"]["inputs"] == {"width": 64, "height": 48, "batch_size": 1}
    # Bypassed upscale and the Reroute are both skipped: the decoder reads the sampler directly.
    assert prompt["6"]["inputs"] == {"samples": ["5", 0], "vae": ["1", 2]}
    assert prompt["7"]["inputs"] == {"images": ["6", 0], "filename_prefix": "knight"}


def test_active_node_between_is_kept_and_muted_node_cuts_the_link():
    active = ui_to_api(workflow(bypass_upscale=False), OBJECT_INFO)
    assert active["10"]["inputs"] == {"samples": ["5", 0], "upscale_method": "nearest-exact", "scale_by": 2.0}
    assert active["6"]["inputs"]["samples"] == ["10", 0]
    muted = ui_to_api(workflow(bypass_upscale=False, mute_upscale=True), OBJECT_INFO)
    assert "10" not in muted and "samples" not in muted["6"]["inputs"]


def test_unknown_node_type_and_subgraph_are_refused_clearly():
    broken = workflow()
    broken["nodes"][0]["type"] = "CheckpointLoaderSimpel"
    with pytest.raises(UIConversionError, match="did you mean 'CheckpointLoaderSimple'"):
        ui_to_api(broken, OBJECT_INFO)
    nested = workflow()
    nested["definitions"] = {"subgraphs": [{"id": "abc-123"}]}
    nested["nodes"].append({"id": 30, "type": "abc-123", "mode": 0})
    with pytest.raises(UIConversionError, match="subgraph"):
        ui_to_api(nested, OBJECT_INFO)
    with pytest.raises(UIConversionError):
        ui_to_api({"1": {"class_type": "X"}}, OBJECT_INFO)


def test_dict_widget_values_are_taken_by_name():
    flow = {"nodes": [node(4, "EmptyLatentImage")], "links": []}
    flow["nodes"][0]["widgets_values"] = {"width": 32, "height": 16, "batch_size": 2}
    assert ui_to_api(flow, OBJECT_INFO)["4"]["inputs"] == {"width": 32, "height": 16, "batch_size": 2}
