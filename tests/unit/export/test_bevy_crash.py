"""A process killed (SIGKILL) at random points while exporting never leaves a torn PNG or manifest."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from dgx_pixels.export.bevy import export_to_bevy
    from dgx_pixels.ops.sheet import SheetOptions, build_sheet

    project = sys.argv[1]
    rng = np.random.default_rng(int(sys.argv[2]))
    frames = rng.integers(0, 256, (6, 96, 96, 4), dtype=np.uint8)
    frames[..., 3] = 255
    one_page = build_sheet(frames, options=SheetOptions(layout="grid", merge_duplicates=False))
    # 96 px frames in 128 px pages: three pages, so exports alternate between one and several pages.
    pages = build_sheet(frames[:3], options=SheetOptions(layout="pack", max_size=128, merge_duplicates=False))
    assert len(pages.pages) == 3
    print("ready", flush=True)
    for i in range(10000):
        sheet = pages if i % 2 else one_page
        export_to_bevy(sheet, project, category="effect", name="blast", variant=f"v{i % 3}")
    """
)


def _check_project(project):
    assets = os.path.join(project, "assets")
    manifest_path = os.path.join(assets, "manifest.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as fh:
            manifest = json.load(fh)
        for entry in manifest["assets"].values():
            for page in entry["pages"]:
                assert os.path.isfile(os.path.join(assets, page)), f"the manifest lists {page}, which is missing"
    for root, _dirs, files in os.walk(assets):
        for name in files:
            if name.endswith(".png"):
                with Image.open(os.path.join(root, name)) as img:
                    img.load()
                    assert img.size[0] >= 16
            elif name.endswith(".json"):
                with open(os.path.join(root, name)) as fh:
                    json.load(fh)


def test_sigkill_never_leaves_torn_files(tmp_path):
    project = tmp_path / "game"
    project.mkdir()
    rnd = random.Random(1234)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    kills = 0
    deadline = time.monotonic() + 60  # normally ~12 s; slack for a loaded machine
    while kills < 21 and time.monotonic() < deadline:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(project), str(kills)], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rnd.uniform(0.0, 0.2))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        kills += 1
        _check_project(project)
    assert kills >= 20
    # The next export cleans up temp files left by killed writers in the folders it touches.
    from dgx_pixels.export.bevy import export_to_bevy
    from dgx_pixels.ops.sheet import build_sheet

    frames = np.full((1, 16, 16, 4), 255, np.uint8)
    export_to_bevy(build_sheet(frames), project, category="effect", name="blast", variant="v0")
    _check_project(project)


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from dgx_pixels.export.bevy import export_to_bevy
    from dgx_pixels.ops.sheet import build_sheet

    project, worker = sys.argv[1], int(sys.argv[2])
    frames = np.zeros((2, 32, 32, 4), np.uint8)
    frames[:, 4:28, 4:28] = (worker * 20, 90, 200, 255)
    sheet = build_sheet(frames)
    sys.stdin.readline()  # all writers start together
    for round_ in range(6):
        export_to_bevy(sheet, project, category="item", name=f"gem{worker}", variant=f"v{round_ % 3}")
    """
)


def test_concurrent_exports_into_one_project_keep_every_manifest_entry(tmp_path):
    project = tmp_path / "game"
    project.mkdir()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(project), str(worker)], stdin=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, text=True) for worker in range(6)]
    for writer in writers:
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        _, err = writer.communicate(timeout=180)
        assert writer.returncode == 0, err
    manifest = json.loads((project / "assets" / "manifest.json").read_text())
    expected = {f"item_gem{worker}_v{variant}" for worker in range(6) for variant in range(3)}
    assert set(manifest["assets"]) == expected, "an export lost another one's manifest entry"
    for entry in manifest["assets"].values():
        for path in entry["files"]:
            assert (project / "assets" / path).is_file()
    _check_project(project)


def test_an_export_waiting_too_long_for_the_lock_says_who_holds_it(tmp_path):
    from dgx_pixels.export.bevy import project_lock

    with project_lock(tmp_path), pytest.raises(TimeoutError) as waited:
        with project_lock(tmp_path, timeout_s=0.2):
            pytest.fail("two exports held one project's lock at once")
    assert str(tmp_path) in str(waited.value) and "export.lock" in str(waited.value)
    with project_lock(tmp_path, timeout_s=0.2):
        pass  # released on exit
