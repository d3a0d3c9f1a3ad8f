"""The graph editor in a real Chromium (Debian's /usr/bin/chromium driven by Playwright) against the real engine:
it loads with our extension and no errors from it, every bundled workflow loads with no missing node types, our
previews render pixel-perfect, a workflow runs from the Queue button, and subgraphs made in the editor convert to the
prompt the editor itself queues. Screenshots go to the pytest tmp dir."""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dgx_pixels.engine.ui_to_api import ui_to_api

pytestmark = pytest.mark.engine

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
UI_WORKFLOWS = sorted(p for p in WORKFLOWS.glob("*.json")
                      if not p.name.endswith((".api.json", ".params.json")) and "nodes" in json.loads(p.read_text()))
OURS = ("dgx_pixels", "dgx-pixels", "DGXPixels")

playwright_sync = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def editor(engine, tmp_path_factory):
    """A page with the editor open and ready; ``page.console_errors`` collects console errors and page errors."""
    shots = tmp_path_factory.mktemp("browser")
    # Settings written before the editor opens: the first-run template browser and the missing-models dialog
    # (the SDXL files are absent here) would cover the canvas and the Queue button.
    settings_file = engine.run_dir / "user" / "default" / "comfy.settings.json"
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings = json.loads(settings_file.read_text()) if settings_file.exists() else {}
    settings.update({"Comfy.TutorialCompleted": True, "Comfy.Workflow.ShowMissingModelsWarning": False})
    settings_file.write_text(json.dumps(settings))
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.goto(engine.url, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_function("() => window.app && window.app.graph && window.LiteGraph "
                               "&& window.app.extensions?.length > 0", timeout=120_000)
        page.wait_for_timeout(1000)
        close_dialogs(page)
        page.console_errors = errors
        page.shots = shots
        yield page
        browser.close()


def close_dialogs(page) -> None:
    """Close the editor's dialogs (first-run templates, missing models): they cover the canvas and the Queue button."""
    page.keyboard.press("Escape")
    for button in page.locator(".p-dialog .p-dialog-close-button, .p-dialog button[aria-label='Close']").all():
        if button.is_visible():
            button.click(timeout=5_000)
    page.wait_for_timeout(300)


def load_graph(page, workflow: dict) -> None:
    page.evaluate("async (wf) => { await window.app.loadGraphData(wf); }", workflow)
    page.wait_for_timeout(300)
    close_dialogs(page)


def test_editor_loads_our_extension_without_errors(editor):
    names = editor.evaluate("() => window.app.extensions.map(e => e.name)")
    assert "DGXPixels.PixelPreview" in names
    setting = editor.evaluate("() => window.app.extensionManager.setting.get('DGXPixels.Preview.Zoom')")
    assert setting == "auto"
    ours = [e for e in editor.console_errors if any(tag in e for tag in OURS)]
    assert not ours, ours
    editor.screenshot(path=str(editor.shots / "editor.png"))


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda p: p.stem)
def test_bundled_workflow_loads_with_no_missing_node_types(editor, path):
    workflow = json.loads(path.read_text())
    load_graph(editor, workflow)
    missing = editor.evaluate("(types) => types.filter(t => !(t in window.LiteGraph.registered_node_types))",
                              sorted({n["type"] for n in workflow["nodes"]}))
    assert missing == []
    count = editor.evaluate("() => window.app.graph._nodes.length")
    assert count == len(workflow["nodes"])
    editor.screenshot(path=str(editor.shots / f"workflow_{path.stem}.png"))


def test_subgraphs_made_in_the_editor_convert_like_the_editor_queues_them(editor, engine, run_prompt,
                                                                           tiny_checkpoint):
    """Subgraphs built with the editor's own commands: a plain one fed by an outside node through a promoted
    widget input, the same with that input unlinked and its widget set on the instance, one nested in another, and
    that one muted and bypassed with the editor's commands.
    Each time the editor's workflow (what it saves) goes through ui_to_api and must give the prompt the editor
    queues (graphToPrompt), node names like ``14:13:6`` included."""
    with urllib.request.urlopen(f"{engine.url}/object_info", timeout=60) as response:
        info = json.load(response)
    load_graph(editor, json.loads((WORKFLOWS / "text_to_sprite.json").read_text()))
    steps = editor.evaluate("""async () => {
        const g = window.app.graph;
        const seed = LiteGraph.createNode("PrimitiveInt");
        g.add(seed);
        seed.widgets[0].value = 777;
        const sampler = g.getNodeById(6);
        seed.connect(0, sampler, sampler.inputs.findIndex(i => i.name === "seed"));
        const inner = g.convertToSubgraph(new Set([3, 4, 6].map(id => g.getNodeById(id)))).node;
        const linked = await window.app.graphToPrompt();
        inner.disconnectInput(inner.inputs.findIndex(i => i.name === "seed"));
        inner.widgets.find(w => w.name === "seed").value = 4242;
        const unlinked = await window.app.graphToPrompt();
        const outer = g.convertToSubgraph(new Set([inner, g.getNodeById(7)])).node;
        const nested = await window.app.graphToPrompt();
        // The editor's own Mute and Bypass commands on the outer instance (they set its inner nodes' modes too).
        window.app.canvas.deselectAll();
        window.app.canvas.select(outer);
        const command = window.app.extensionManager.command;
        await command.execute("Comfy.Canvas.ToggleSelectedNodes.Mute");
        const muted = await window.app.graphToPrompt();
        await command.execute("Comfy.Canvas.ToggleSelectedNodes.Mute");
        await command.execute("Comfy.Canvas.ToggleSelectedNodes.Bypass");
        const bypassed = await window.app.graphToPrompt();
        await command.execute("Comfy.Canvas.ToggleSelectedNodes.Bypass");
        return {linked, unlinked, nested, muted, bypassed, names: [inner.id, outer.id]};
    }""")
    inner, outer = steps.pop("names")

    def plain(prompt: dict) -> dict:
        return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}

    for name, step in steps.items():
        assert step["workflow"]["definitions"]["subgraphs"], f"{name}: the editor made no subgraph"
        assert plain(ui_to_api(step["workflow"], info)) == plain(step["output"]), name
    assert not [k for k in steps["muted"]["output"] if k.startswith(f"{outer}:")]
    assert "image" not in steps["muted"]["output"]["9"]["inputs"]
    assert "image" not in steps["bypassed"]["output"]["9"]["inputs"]  # no IMAGE input on the instance to pass on
    sampler = plain(ui_to_api(steps["nested"]["workflow"], info))[f"{outer}:{inner}:6"]
    assert sampler["inputs"]["seed"] == 4242
    assert sampler["inputs"]["positive"] == [f"{outer}:{inner}:3", 0]
    assert plain(ui_to_api(steps["linked"]["workflow"], info))[f"{inner}:6"]["inputs"]["seed"][1] == 0

    # The engine runs the converted nested prompt, flat names and all (small and on the tiny checkpoint).
    prompt = ui_to_api(steps["nested"]["workflow"], info)
    prompt["1"]["inputs"]["ckpt_name"] = tiny_checkpoint
    prompt["2"]["inputs"]["lora_1"] = "None"
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt[f"{outer}:{inner}:6"]["inputs"]["steps"] = 1
    prompt["9"]["inputs"].update(width=16, height=16)
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        result = pool.submit(run_prompt, prompt, 180).result()
    assert [f for f in result.files() if f.type == "output"], f"no image saved; outputs: {list(result.outputs)}"


def test_sheet_preview_animates_the_tag_of_a_real_run(editor, engine, tiny_checkpoint):
    """The animation workflow's API twin runs on the engine for the editor's own client id; the Sprite Sheet
    node's panel then plays its tag from the saved atlas at the frames' durations."""
    load_graph(editor, json.loads((WORKFLOWS / "animation_to_bevy.json").read_text()))
    prompt = json.loads((WORKFLOWS / "api" / "animation_to_bevy.api.json").read_text())
    prompt["1"]["inputs"]["ckpt_name"] = tiny_checkpoint
    prompt["2"]["inputs"]["lora_1"] = "None"
    prompt["5"]["inputs"].update(width=64, height=64, batch_size=3)
    prompt["6"]["inputs"]["steps"] = 1
    prompt["8"]["inputs"].update(width=16, height=16, background="none")
    prompt["9"]["inputs"]["merge_duplicates"] = False
    del prompt["11"]  # Bevy export needs a project folder; its own tests cover it
    client_id = editor.evaluate("() => window.comfyAPI.api.api.clientId")
    assert client_id
    body = json.dumps({"prompt": prompt, "client_id": client_id}).encode()
    request = urllib.request.Request(f"{engine.url}/prompt", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    editor.wait_for_function("() => document.querySelector('.dgx-pixels-animation-canvas')?.dataset.frame !== undefined",
                             timeout=180_000)
    frames = set()
    for _ in range(30):
        frames.add(editor.evaluate("() => document.querySelector('.dgx-pixels-animation-canvas').dataset.frame"))
        editor.wait_for_timeout(50)
    assert {"0", "1", "2"} <= frames, f"the sheet's tag did not play all frames: {frames}"
    editor.screenshot(path=str(editor.shots / "sheet_preview.png"))


def test_cpu_workflow_runs_from_the_queue_button(editor, tiny_checkpoint):
    workflow = json.loads((WORKFLOWS / "text_to_sprite.json").read_text())
    for node in workflow["nodes"]:
        values = node["widgets_values"]
        if node["type"] == "CheckpointLoaderSimple":
            values[0] = tiny_checkpoint
            node["properties"].pop("models", None)
        elif node["type"] == "DGXPixels.LoraStack":
            node["properties"].pop("models", None)
            node["widgets_values"] = ["None" if isinstance(v, str) and v.endswith(".safetensors") else v
                                      for v in values]
        elif node["type"] == "EmptyLatentImage":
            values[0:2] = [128, 128]
        elif node["type"] == "KSampler":
            values[2] = 2  # seed, control, steps
    load_graph(editor, workflow)
    editor.screenshot(path=str(editor.shots / "before_queue.png"))
    # Toasts (e.g. about models absent on this machine) sit over the top-right corner where the button is.
    editor.evaluate("() => document.querySelectorAll('.p-toast-close-button').forEach(b => b.click())")
    editor.wait_for_function("() => !document.querySelector('.p-toast-message')", timeout=15_000)
    editor.locator("[data-testid='queue-button']").first.click(timeout=15_000)
    editor.wait_for_function("() => Object.values(window.app.nodeOutputs || {})"
                             ".flatMap(o => o.images || []).some(i => i.type === 'output')", timeout=120_000)
    # Our nodes' panels show the real outputs: the preview at a whole zoom, pixelated; the palette's swatches.
    editor.wait_for_function("() => document.querySelectorAll('.dgx-pixels-swatch').length > 0 && "
                             "[...document.querySelectorAll('.dgx-pixels-image')].some(i => i.naturalWidth > 0)",
                             timeout=30_000)
    shown = editor.evaluate("""() => {
        const img = [...document.querySelectorAll('.dgx-pixels-image')].find(i => i.naturalWidth > 0);
        return {rendering: getComputedStyle(img).imageRendering, zoom: Number(img.dataset.zoom),
                width: parseFloat(img.style.width), natural: img.naturalWidth,
                swatches: [...document.querySelectorAll('.dgx-pixels-swatch')].length};
    }""")
    assert shown["rendering"] == "pixelated"
    assert shown["zoom"] >= 1 and shown["width"] == shown["natural"] * shown["zoom"]
    palette_names = editor.evaluate("() => window.app.graph._nodes.filter(n => n.type === 'DGXPixels.PaletteLoad')"
                                   ".map(n => n.widgets[0].value)")
    assert palette_names == ["endesga-32"], "the text-to-sprite workflow has no Palette Load node"
    assert shown["swatches"] == 32  # endesga-32, the workflow's palette
    editor.wait_for_timeout(500)
    editor.screenshot(path=str(editor.shots / "queued_run.png"))


def test_image_to_pixel_art_keeps_transparency_from_the_run_button(editor, engine, upload_png):
    # A 12x12 sprite blown up 8x on a transparent background, loaded by the workflow's own LoadImage and run
    # with the editor's Run button: the saved pixel art must be transparent where the sprite's ground was.
    import io

    import numpy as np
    from PIL import Image

    rgba = np.zeros((96, 96, 4), np.uint8)
    rgba[24:72, 32:64] = (200, 60, 40, 255)
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        name = pool.submit(upload_png, Image.fromarray(rgba, "RGBA"), "dgx_transparent_sprite.png").result()
    workflow = json.loads((WORKFLOWS / "image_to_pixel_art.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "LoadImage":
            node["widgets_values"][0] = name
    load_graph(editor, workflow)
    editor.evaluate("() => { window.app.nodeOutputs = {}; "
                    "document.querySelectorAll('.p-toast-close-button').forEach(b => b.click()); }")
    editor.locator("[data-testid='queue-button']").first.click(timeout=15_000)
    saved = editor.wait_for_function(
        "() => Object.values(window.app.nodeOutputs || {}).flatMap(o => o.images || [])"
        ".find(i => i.type === 'output' && i.filename.includes('pixelized'))", timeout=120_000).json_value()
    query = urllib.parse.urlencode({k: saved[k] for k in ("filename", "subfolder", "type")})
    with urllib.request.urlopen(f"{engine.url}/view?{query}", timeout=30) as response:
        out = np.asarray(Image.open(io.BytesIO(response.read())).convert("RGBA"))
    assert out[0, 0, 3] == 0 and out[-1, -1, 3] == 0, "the transparent ground came out opaque"
    assert (out[..., 3] == 255).any()
    assert not [e for e in editor.console_errors if any(word in e for word in OURS)]
