"""UI → API conversion against a small object_info: widget order, control_after_generate values, PrimitiveNode,
Reroute, muted and bypassed nodes, subgraphs (flat names, boundaries, promoted widgets, nesting)."""

from __future__ import annotations

import pytest

from dgx_pixels.engine.ui_to_api import UIConversionError, ui_to_api

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


def ksampler(node_id, links, widgets):
    """A KSampler fed by the link ids (model, positive, negative, latent_image, seed); seed is a widget input."""
    names = (("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
             ("latent_image", "LATENT"), ("seed", "INT"))
    inputs = [{"name": name, "type": kind, "link": link} for (name, kind), link in zip(names, links)]
    inputs[-1]["widget"] = {"name": "seed"}
    return node(node_id, "KSampler", inputs, widgets)


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
        ksampler(5, (1, 4, 5, 6, 12), [5, "randomize", 4, 6.5, "euler", "normal", 1.0]),
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


def test_unknown_node_type_is_refused_clearly():
    broken = workflow()
    broken["nodes"][0]["type"] = "CheckpointLoaderSimpel"
    with pytest.raises(UIConversionError, match="did you mean 'CheckpointLoaderSimple'"):
        ui_to_api(broken, OBJECT_INFO)
    with pytest.raises(UIConversionError):
        ui_to_api({"1": {"class_type": "X"}}, OBJECT_INFO)


# Subgraphs in the editor's format (frontend 1.32): the instance node's type is the subgraph's id; inside, links are
# objects and the subgraph's inputs and outputs are the boundary nodes -10 and -20.
SAMPLE_ID = "5c1e0a9e-sample"
PROMPTS_ID = "77b2e1f0-prompts"


def subgraph(sg_id, nodes, links, inputs, outputs):
    return {"id": sg_id, "name": sg_id, "nodes": nodes, "inputNode": {"id": -10}, "outputNode": {"id": -20},
            "inputs": [{"name": n, "type": t, "linkIds": ids} for n, t, ids in inputs],
            "outputs": [{"name": n, "type": t, "linkIds": ids} for n, t, ids in outputs],
            "links": [{"id": i, "origin_id": o, "origin_slot": os, "target_id": t, "target_slot": ts, "type": ty}
                      for i, o, os, t, ts, ty in links]}


def prompts_subgraph():
    # Two text encoders sharing one CLIP input; both conditionings leave the subgraph.
    return subgraph(PROMPTS_ID, [
        node(1, "CLIPTextEncode", [{"name": "clip", "type": "CLIP", "link": 1}], ["a knight"]),
        node(2, "CLIPTextEncode", [{"name": "clip", "type": "CLIP", "link": 2}], ["blurry"]),
    ], [(1, -10, 0, 1, 0, "CLIP"), (2, -10, 0, 2, 0, "CLIP"), (3, 1, 0, -20, 0, "CONDITIONING"),
        (4, 2, 0, -20, 1, "CONDITIONING")],
        [("clip", "CLIP", [1, 2])], [("positive", "CONDITIONING", [3]), ("negative", "CONDITIONING", [4])])


def sample_subgraph():
    # The prompts subgraph nested inside, a sampler whose seed widget is a subgraph input, and the latent also
    # passed straight through from input to output.
    return subgraph(SAMPLE_ID, [
        node(7, PROMPTS_ID, [{"name": "clip", "type": "CLIP", "link": 11}]),
        ksampler(8, (12, 13, 14, 15, 16), [99, "fixed", 4, 6.5, "euler", "normal", 1.0]),
    ], [(11, -10, 0, 7, 0, "CLIP"), (12, -10, 1, 8, 0, "MODEL"), (13, 7, 0, 8, 1, "CONDITIONING"),
        (14, 7, 1, 8, 2, "CONDITIONING"), (15, -10, 2, 8, 3, "LATENT"), (16, -10, 3, 8, 4, "INT"),
        (17, 8, 0, -20, 0, "LATENT"), (18, -10, 2, -20, 1, "LATENT")],
        [("clip", "CLIP", [11]), ("model", "MODEL", [12]), ("latent_image", "LATENT", [15, 18]),
         ("seed", "INT", [16])],
        [("LATENT", "LATENT", [17]), ("passthrough", "LATENT", [18])])


def subgraph_workflow(seed_from_primitive=False, sample_mode=0):
    seed_input = [{"name": "seed", "type": "INT", "link": 25, "widget": {"name": "seed"}}] if seed_from_primitive else []
    nodes = [
        node(1, "CheckpointLoaderSimple", widgets=["tiny.safetensors"]),
        node(4, "EmptyLatentImage", widgets=[64, 48, 1]),
        node(13, SAMPLE_ID, [{"name": "clip", "type": "CLIP", "link": 21}, {"name": "model", "type": "MODEL", "link": 22},
                             {"name": "latent_image", "type": "LATENT", "link": 23}, *seed_input],
             mode=sample_mode, outputs=[{"type": "LATENT", "links": [24]}, {"type": "LATENT", "links": [27]}]),
        node(6, "VAEDecode", [{"name": "samples", "type": "LATENT", "link": 24}, {"name": "vae", "type": "VAE",
                                                                                   "link": 26}]),
        node(7, "SaveImage", [{"name": "images", "type": "IMAGE", "link": 28}], ["knight"]),
        node(8, "VAEDecode", [{"name": "samples", "type": "LATENT", "link": 27}, {"name": "vae", "type": "VAE",
                                                                                   "link": 29}]),
        node(9, "PrimitiveNode", outputs=[{"type": "INT", "links": [25]}], widgets=[1234, "fixed"]),
    ]
    links = [[21, 1, 1, 13, 0, "CLIP"], [22, 1, 0, 13, 1, "MODEL"], [23, 4, 0, 13, 2, "LATENT"],
             [24, 13, 0, 6, 0, "LATENT"], [25, 9, 0, 13, 3, "INT"], [26, 1, 2, 6, 1, "VAE"],
             [27, 13, 1, 8, 0, "LATENT"], [28, 6, 0, 7, 0, "IMAGE"], [29, 1, 2, 8, 1, "VAE"]]
    return {"nodes": nodes, "links": links,
            "definitions": {"subgraphs": [sample_subgraph(), prompts_subgraph()]}}


def test_subgraphs_are_flattened_with_the_editors_node_names():
    prompt = ui_to_api(subgraph_workflow(), OBJECT_INFO)
    assert set(prompt) == {"1", "4", "6", "7", "8", "13:7:1", "13:7:2", "13:8"}
    assert prompt["13:7:1"]["inputs"] == {"text": "a knight", "clip": ["1", 1]}
    assert prompt["13:7:2"]["inputs"] == {"text": "blurry", "clip": ["1", 1]}
    # The seed input is not linked on the instance: the inner widget's value stays.
    assert prompt["13:8"]["inputs"] == {"seed": 99, "steps": 4, "cfg": 6.5, "sampler_name": "euler",
                                        "scheduler": "normal", "denoise": 1.0, "model": ["1", 0],
                                        "positive": ["13:7:1", 0], "negative": ["13:7:2", 0],
                                        "latent_image": ["4", 0]}
    assert prompt["6"]["inputs"]["samples"] == ["13:8", 0]
    assert prompt["8"]["inputs"]["samples"] == ["4", 0], "an input wired straight to an output passes through"


def test_subgraph_input_linked_outside_wins_over_the_inner_widget():
    prompt = ui_to_api(subgraph_workflow(seed_from_primitive=True), OBJECT_INFO)
    assert prompt["13:8"]["inputs"]["seed"] == 1234


def test_muted_or_bypassed_subgraph_runs_none_of_its_nodes():
    muted = ui_to_api(subgraph_workflow(sample_mode=2), OBJECT_INFO)
    assert not [n for n in muted if n.startswith("13")]
    assert "samples" not in muted["6"]["inputs"]
    bypassed = ui_to_api(subgraph_workflow(sample_mode=4), OBJECT_INFO)
    assert not [n for n in bypassed if n.startswith("13")]
    # Bypassed: each LATENT output takes the instance's LATENT input, like any bypassed node.
    assert bypassed["6"]["inputs"]["samples"] == ["4", 0] and bypassed["8"]["inputs"]["samples"] == ["4", 0]


def test_a_subgraph_that_contains_itself_is_refused():
    looped = subgraph_workflow()
    prompts = looped["definitions"]["subgraphs"][1]
    prompts["nodes"].append(node(3, PROMPTS_ID, [{"name": "clip", "type": "CLIP", "link": 5}]))
    prompts["links"].append({"id": 5, "origin_id": -10, "origin_slot": 0, "target_id": 3, "target_slot": 0,
                             "type": "CLIP"})
    prompts["outputs"][0]["linkIds"] = [6]
    prompts["links"].append({"id": 6, "origin_id": 3, "origin_slot": 0, "target_id": -20, "target_slot": 0,
                             "type": "CONDITIONING"})
    with pytest.raises(UIConversionError, match="nest deeper"):
        ui_to_api(looped, OBJECT_INFO)


def test_dict_widget_values_are_taken_by_name():
    flow = {"nodes": [node(4, "EmptyLatentImage")], "links": []}
    flow["nodes"][0]["widgets_values"] = {"width": 32, "height": 16, "batch_size": 2}
    assert ui_to_api(flow, OBJECT_INFO)["4"]["inputs"] == {"width": 32, "height": 16, "batch_size": 2}
