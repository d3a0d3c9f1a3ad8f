"""Every node of the pack, driven through the real engine with inputs drawn by hypothesis from its own schema (what
/object_info says), bad values included: out-of-range and non-finite numbers, unknown choices, hostile strings and
paths, tiny and odd-sized images, masks of another size.

Each prompt must end in one of: success, a 400 from validation, or a node error of a kind meant for users
(ValueError, PermissionError and their subclasses) with a message. Never another exception type, never a hung or
dead engine, never a file outside the allowed roots, never a temporary file left behind.

Examples per node: $DGX_PIXELS_HOSTILE_EXAMPLES (default 6 in `make test`; `make test-hostile` runs 500).
TrainLora is left out: one example trains for minutes; tests/engine/test_lora_train*.py cover its inputs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prompt_graph import Graph, NodeRef

from dgx_pixels.engine.client import ExecutionFailed, PromptValidationError

pytestmark = pytest.mark.engine

OUTCOMES: dict[tuple[str, str], int] = {}
EXAMPLES = int(os.environ.get("DGX_PIXELS_HOSTILE_EXAMPLES", "6"))
SKIPPED = {"DGXPixels.TrainLora"}
# Exceptions a node raises on purpose for a bad input (LoraMismatchError and the export's errors subclass these).
USER_ERRORS = {"ValueError", "PermissionError", "LoraMismatchError", "FileNotFoundError"}
HOSTILE_TEXT = ["", " ", "..", "../../etc", "/var/tmp", "/etc/passwd", "\x00", "CON", "nul.txt", "é" * 200,
                "a" * 300, "#zzzzzz", "#FF00FF", "héros", "龍", "\n\n", "walk, idle", "1e309", "-1"]


def _object_info(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/object_info", timeout=60) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def schemas(engine) -> dict:
    return {name: spec for name, spec in _object_info(engine.url).items()
            if name.startswith("DGXPixels.") and name not in SKIPPED}


@pytest.fixture(scope="module")
def outside() -> Path:
    """A folder outside every allowed root: nothing may ever appear in it."""
    folder = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="dgx-pixels-hostile-"))
    yield folder
    shutil.rmtree(folder)


def _number(draw, kind: str, options: dict, hostile: bool):
    low, high = options.get("min", -2**31), options.get("max", 2**31)
    wild = [low - 1, high + 1, 0, -1, 2**53] + ([math.nan, math.inf, -math.inf] if kind == "FLOAT" else [])
    if hostile and draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(wild))
    if kind == "INT":
        # Large values stay small enough for one example to finish quickly; the memory checks have their own tests.
        return draw(st.integers(low, min(high, low + 64)))
    return draw(st.floats(low, high, allow_nan=False))


def _side(draw, size: tuple[int, int] | None, axis: int) -> int:
    """A side of an image or mask: the example's own size when it is well-formed, any from 1 px when hostile."""
    return size[axis] if size else draw(st.integers(1, 40))


def _image(draw, g: Graph, size: tuple[int, int] | None) -> NodeRef:
    return g.node("EmptyImage", width=_side(draw, size, 0), height=_side(draw, size, 1),
                  batch_size=draw(st.integers(1, 3)), color=draw(st.integers(0, 0xFFFFFF)))


def _value(draw, g: Graph, name: str, kind, options: dict, checkpoint: str, project_choices: list[str],
           size: tuple[int, int] | None):
    hostile = size is None
    if isinstance(kind, list) or kind == "COMBO":  # V1 lists its choices in place of the type, V3 in "options"
        choices = kind if isinstance(kind, list) else options.get("options", [])
        return draw(st.sampled_from([*choices, "not-an-option"] if hostile else choices))
    if kind in ("INT", "FLOAT"):
        return _number(draw, kind, options, hostile)
    if kind == "BOOLEAN":
        return draw(st.booleans())
    if kind == "STRING":
        if name in ("project", "path"):  # where a node writes: inside, outside and escaping the allowed roots
            return draw(st.sampled_from(project_choices + (HOSTILE_TEXT if hostile else [])))
        if not hostile:
            return options.get("default", "")
        return draw(st.one_of(st.sampled_from(HOSTILE_TEXT + project_choices), st.text(max_size=24)))
    if kind == "IMAGE":
        return _image(draw, g, size).out(0)
    if kind == "MASK":
        return g.node("SolidMask", value=draw(st.floats(0, 1)), width=_side(draw, size, 0),
                      height=_side(draw, size, 1)).out(0)
    if kind == "DGX_PALETTE":
        return g.node("DGXPixels.PaletteLoad", name=draw(st.sampled_from(["pico-8", "endesga-32", "game-boy"])),
                      file="").out(0)
    if kind == "DGX_SPRITE_SHEET":
        # Each sheet its own animation name, so sheets can be combined.
        sheet = g.node("DGXPixels.SpriteSheet", frames=_image(draw, g, size).out(0), animation=f"anim{len(g.prompt)}",
                       fps=8.0,
                       direction="forward", repeat=0, pivot_x=0.5, pivot_y=1.0, layout="pack", columns=0, padding=1,
                       extrude=0, trim=True, merge_duplicates=True, max_size=1024, power_of_two=False)
        return sheet.out(2)
    if kind in ("MODEL", "CLIP", "VAE"):
        return g.node("CheckpointLoaderSimple", ckpt_name=checkpoint).out(["MODEL", "CLIP", "VAE"].index(kind))
    raise AssertionError(f"no strategy for input type {kind}")


def _drive(engine, run_prompt, schemas, outside: Path, tiny_checkpoint: str, project: Path, node: str):
    spec = schemas[node]
    inputs = spec["input"]
    project_choices = [str(project), "game", str(outside), str(outside / "game"), str(project / ".." / "escape"),
                       str(project / "knight.aseprite"), str(outside / "knight.aseprite"), "../../knight.aseprite"]

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.data())
    def example(data):
        g = Graph()
        # Half the examples are well-formed (one image size, defaults for strings), half hostile (any value).
        size = None if data.draw(st.booleans()) else (data.draw(st.integers(2, 40)), data.draw(st.integers(2, 40)))
        values = {}
        for group in ("required", "optional"):
            for name, (kind, *rest) in inputs.get(group, {}).items():
                if group == "optional" and not data.draw(st.booleans()):
                    continue
                values[name] = _value(data.draw, g, name, kind, rest[0] if rest else {}, tiny_checkpoint,
                                      project_choices, size)
        ref = g.node(node, **values)
        for slot in range(len(spec["output"])):
            g.node("PreviewAny", source=ref.out(slot))  # every output leads somewhere, so the node runs
        try:
            run_prompt(g.prompt, timeout_s=300)
            OUTCOMES[node, "ran"] = OUTCOMES.get((node, "ran"), 0) + 1
        except PromptValidationError:
            OUTCOMES[node, "refused"] = OUTCOMES.get((node, "refused"), 0) + 1
        except ExecutionFailed as failure:
            OUTCOMES[node, "failed"] = OUTCOMES.get((node, "failed"), 0) + 1
            assert failure.exception_type in USER_ERRORS, f"{node} crashed on {values}: {failure}"
            assert failure.exception_message, f"{node} failed without a message on {values}"
        assert list(outside.iterdir()) == [], f"{node} wrote outside the allowed roots with {values}"
        leftovers = [p for p in project.rglob("*") if "dgxtmp" in p.name or p.name.endswith(".tmp")]
        assert leftovers == [], f"{node} left temporary files {leftovers} with {values}"
        with urllib.request.urlopen(f"{engine.url}/system_stats", timeout=30) as response:
            assert response.status == 200, "the engine stopped answering"

    example()


@pytest.mark.parametrize("node", [
    "DGXPixels.Pixelize", "DGXPixels.DetectGrid", "DGXPixels.PaletteLoad", "DGXPixels.PaletteFromImages",
    "DGXPixels.ApplyPalette", "DGXPixels.AlphaCleanup", "DGXPixels.OutlineCleanup", "DGXPixels.PixelPreview",
    "DGXPixels.UpscaleInteger", "DGXPixels.TilePreview", "DGXPixels.SeamlessTiling", "DGXPixels.CompareGrid",
    "DGXPixels.SpriteSheet", "DGXPixels.CombineSpriteSheets", "DGXPixels.BevyExport", "DGXPixels.LoraStack",
    "DGXPixels.LoadAseprite", "DGXPixels.SaveAseprite", "DGXPixels.PaletteSwap",
])
def test_node_survives_hostile_inputs(engine, run_prompt, schemas, outside, tiny_checkpoint, tmp_path, node):
    assert node in schemas, f"{node} is not registered"
    project = tmp_path / "game"
    project.mkdir()
    _drive(engine, run_prompt, schemas, outside, tiny_checkpoint, project, node)


def test_outcomes_cover_runs(capsys):
    # The suite is only worth its time if examples get past validation: most nodes must have run at least once.
    ran = {node for (node, outcome) in OUTCOMES if outcome == "ran"}
    with capsys.disabled():
        print("\nhostile-input outcomes:", dict(sorted(OUTCOMES.items())))  # noqa: T201 (a record in the log)
    assert len(ran) >= 12, OUTCOMES


def test_every_node_is_driven(schemas):
    driven = test_node_survives_hostile_inputs.pytestmark[0].args[1]
    assert sorted(driven) == sorted(schemas), "a new node needs a line in the hostile-input test"
