"""Parameter manifests: coercion, bounds, unknown names and engine-side checks with suggestions."""

from __future__ import annotations

import asyncio
import json

import pytest

from dgx_pixels.engine.params import (
    BUNDLED_DIR,
    ParameterError,
    apply_raw,
    bundled_workflows,
    check_prompt,
    find_workflow,
    load_workflow,
    parse_assignments,
    prepare,
)

OBJECT_INFO = {
    "KSampler": {"input": {"required": {
        "seed": ["INT", {"min": 0, "max": 100, "control_after_generate": True}],
        "sampler_name": [["euler", "euler_ancestral", "heun"], {}],
        "steps": ["INT", {"min": 1, "max": 10000}], "model": ["MODEL"]}}},
    "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": ["COMBO", {"options": ["a.safetensors"]}]}}},
}


def test_bundled_txt2img_manifest_loads_and_matches_its_prompt():
    workflows = bundled_workflows()
    assert "txt2img_basic" in workflows
    workflow = workflows["txt2img_basic"]
    assert {"prompt", "seed", "width", "height", "checkpoint", "sampler"} <= set(workflow.params)
    prompt = workflow.apply({"seed": "42", "width": 64, "prompt": "a slime"})
    assert prompt["5"]["inputs"]["seed"] == 42
    assert prompt["4"]["inputs"]["width"] == 64
    assert prompt["2"]["inputs"]["text"] == "a slime"
    assert workflow.prompt["5"]["inputs"]["seed"] == 1, "apply must not change the loaded workflow"
    described = workflow.describe()["params"]["width"]
    assert described["min"] == 16 and described["multiple_of"] == 8 and "node" not in described


@pytest.mark.parametrize("values, fragment", [
    ({"sed": 1}, "did you mean 'seed'"),
    ({"width": 7}, "below its minimum 16"),
    ({"width": 100}, "multiple of 8 (try 96)"),
    ({"steps": "many"}, "must be a int"),
    ({"steps": 2.5}, "must be a int"),
    ({"batch": 99}, "above its maximum 16"),
])
def test_bad_values_are_named_with_what_would_be_right(values, fragment):
    with pytest.raises(ParameterError) as caught:
        find_workflow("txt2img_basic").apply(values)
    assert fragment in str(caught.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ParameterError) as caught:
        find_workflow("txt2img_basic").apply({"sed": 1, "width": 7})
    assert len(caught.value.problems) == 2


def test_unknown_workflow_suggests_the_closest_name():
    with pytest.raises(ParameterError, match="did you mean 'txt2img_basic'"):
        find_workflow("txt2img_basc")


def test_check_prompt_against_object_info_suggests_names():
    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "b.safetensors"}},
              "2": {"class_type": "KSampler", "inputs": {"seed": 101, "sampler_name": "eulr", "steps": 2,
                                                         "model": ["1", 0]}},
              "3": {"class_type": "KSampIer", "inputs": {}}}
    problems = check_prompt(prompt, OBJECT_INFO)
    text = "\n".join(problems)
    assert "above the engine's maximum 100" in text
    assert "'eulr' is not allowed; did you mean 'euler'" in text
    assert "'b.safetensors' is not allowed; did you mean 'a.safetensors'" in text
    assert "no node type 'KSampIer'; did you mean 'KSampler'" in text


def test_model_params_are_checked_against_the_model_list_and_named_by_parameter():
    workflow = find_workflow("txt2img_basic")
    prompt = workflow.apply({"checkpoint": "tiny.safetensors"})
    info = dict(OBJECT_INFO)
    problems = check_prompt(prompt, info, {"checkpoints": ["dgx-pixels-tiny-sd15.safetensors"]}, workflow)
    assert any(p.startswith("parameter 'checkpoint'") and "dgx-pixels-tiny-sd15" in p for p in problems)


def test_assignments_and_raw_node_inputs():
    assert parse_assignments(["seed=3", "prompt=a cat", "size=[1, 2]"]) == {"seed": 3, "prompt": "a cat",
                                                                           "size": [1, 2]}
    with pytest.raises(ParameterError):
        parse_assignments(["novalue"])
    prompt = {"5": {"class_type": "KSampler", "inputs": {"seed": 1}}}
    assert apply_raw(prompt, {"5.seed": 9})["5"]["inputs"]["seed"] == 9
    with pytest.raises(ParameterError, match="did you mean 'seed'"):
        apply_raw(prompt, {"5.sed": 9})
    with pytest.raises(ParameterError, match="no node '6'"):
        apply_raw(prompt, {"6.seed": 9})


def test_manifest_pointing_at_a_missing_input_is_refused(tmp_path):
    (tmp_path / "w.api.json").write_text(json.dumps({"1": {"class_type": "X", "inputs": {"a": 1}}}))
    (tmp_path / "w.params.json").write_text(json.dumps({"workflow": "w.api.json",
                                                        "params": {"b": {"node": "1", "input": "b"}}}))
    with pytest.raises(ParameterError, match="does not have"):
        load_workflow(tmp_path / "w.params.json")


def test_workflow_lookups_reuse_parsed_files_until_they_change(tmp_path):
    def write(default: int, prompt_value: int = 1) -> None:
        (tmp_path / "w.api.json").write_text(json.dumps({"1": {"class_type": "X", "inputs": {"a": prompt_value}}}))
        (tmp_path / "w.params.json").write_text(json.dumps({
            "workflow": "w.api.json", "params": {"a": {"node": "1", "input": "a", "type": "int",
                                                       "default": default}}}))

    write(3)
    first = bundled_workflows([tmp_path])["w"]
    assert bundled_workflows([tmp_path])["w"] is first, "an unchanged workflow is not parsed again"
    write(12345)  # a different size, so the change shows even within one mtime tick
    assert bundled_workflows([tmp_path])["w"].params["a"].default == 12345
    write(12345, prompt_value=67890)  # only the prompt file changes
    assert bundled_workflows([tmp_path])["w"].prompt["1"]["inputs"]["a"] == 67890
    (tmp_path / "w.params.json").unlink()
    assert "w" not in bundled_workflows([tmp_path])


WORKFLOWS = BUNDLED_DIR.parent


@pytest.mark.parametrize("ui", sorted(WORKFLOWS.glob("*.json")), ids=lambda p: p.stem)
def test_every_editor_workflow_has_an_api_twin_and_a_manifest_that_leaves_it_unchanged(ui):
    """Without a manifest a workflow is unreachable by name from MCP `generate` and `dgx-pixels submit`."""
    assert (BUNDLED_DIR / f"{ui.stem}.api.json").exists()
    workflow = bundled_workflows()[ui.stem]
    assert workflow.apply({}) == workflow.prompt, "manifest defaults must be the workflow's own values"


def test_a_parameter_can_write_one_value_into_several_nodes():
    workflow = find_workflow("compare_loras")
    prompt = workflow.apply({"seed": 7, "lora_2": "None", "strength_3": 0.5})
    samplers = [node for node in prompt.values() if node["class_type"] == "KSampler"]
    assert len(samplers) == 12 and all(node["inputs"]["seed"] == 7 for node in samplers)
    assert [prompt[n]["inputs"]["lora_1"] for n in ("18", "22", "26")] == ["None"] * 3
    assert [prompt[n]["inputs"]["strength_model_1"] for n in ("14", "26", "38", "50")] == [0.5] * 4
    problems = check_prompt(prompt, {"KSampler": OBJECT_INFO["KSampler"]} | {
        node["class_type"]: {"input": {}} for node in prompt.values() if node["class_type"] != "KSampler"},
        workflow=workflow)
    assert not problems


class FakeEngine:
    """Just enough of EngineClient for prepare(): object_info, models and uploads."""

    def __init__(self, inputs: list[str]):
        self.inputs = list(inputs)
        self.uploads: list[tuple[str, bytes]] = []

    async def object_info(self, class_type=None):
        info = {"LoadImage": {"input": {"required": {"image": [sorted(self.inputs), {"image_upload": True}]}}}}
        return {class_type: info.get(class_type, {"input": {}})} if class_type else info

    async def models(self, folder):
        return []

    async def upload_image(self, data, filename, *, subfolder="", overwrite=False, content_type="image/png"):
        assert not overwrite, "an upload must never replace a same-named file of the engine's"
        self.uploads.append((filename, data))
        self.inputs.append(filename)
        return filename


def _png(path):
    from PIL import Image

    Image.new("RGBA", (8, 8), (255, 0, 0, 128)).save(path)
    return path


def test_prepare_uploads_a_local_image_file_for_an_image_parameter(tmp_path):
    engine = FakeEngine(["other.png"])
    path = _png(tmp_path / "knight.png")
    prompt = asyncio.run(prepare(engine, find_workflow("image_to_pixel_art"), {"image": str(path)}))
    assert engine.uploads == [("knight.png", path.read_bytes())]
    assert prompt["1"]["inputs"]["image"] == "knight.png"


def test_prepare_takes_an_engine_input_name_and_names_a_missing_one(tmp_path):
    engine = FakeEngine(["knight.png"])
    prompt = asyncio.run(prepare(engine, find_workflow("fake_pixel_art_cleanup"), {"image": "knight.png"}))
    assert prompt["1"]["inputs"]["image"] == "knight.png" and not engine.uploads
    with pytest.raises(ParameterError, match="did you mean 'knight.png'"):
        asyncio.run(prepare(engine, find_workflow("fake_pixel_art_cleanup"), {"image": "knigt.png"}))
    with pytest.raises(ParameterError, match="neither a local image file"):
        asyncio.run(prepare(engine, find_workflow("image_to_pixel_art"), {}))  # the shipped example.png is absent


def test_prepare_never_uploads_a_local_file_that_is_not_an_image(tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----")
    engine = FakeEngine([])
    with pytest.raises(ParameterError, match="neither a local image file"):
        asyncio.run(prepare(engine, find_workflow("image_to_pixel_art"), {"image": str(secret)}))
    assert not engine.uploads
