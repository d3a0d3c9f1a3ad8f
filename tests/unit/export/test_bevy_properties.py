"""The Bevy export under any names, variants and sub-folders hypothesis can think of: it writes inside the
project's assets or refuses with a ValueError before writing anything; never outside, never a temporary file left.

Examples: $DGX_PIXELS_HOSTILE_EXAMPLES (default 60 here; `make test-hostile` runs 500).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dgx_pixels.export.bevy import CATEGORIES, export_to_bevy
from dgx_pixels.ops.sheet import AnimationTag, SheetOptions, build_sheet

EXAMPLES = max(60, int(os.environ.get("DGX_PIXELS_HOSTILE_EXAMPLES", "60")))
NAMES = st.one_of(
    st.text(min_size=0, max_size=40),
    st.text(alphabet="abcdefghij-_0123456789", min_size=1, max_size=300),
    st.sampled_from(["..", ".", "../x", "a/b", "a\\b", "CON", "nul", "com1.txt", "é" * 130, "x\x00y", " a", "a.",
                     "héros", "龍", "ok"]),
)


def _sheet():
    frames = np.zeros((2, 16, 16, 4), np.uint8)
    frames[:, 4:12, 4:12] = (200, 40, 0, 255)
    return build_sheet(frames, tags=[AnimationTag("idle", 0, 1)], options=SheetOptions(layout="grid"))


SHEET = _sheet()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, variant=NAMES, subdir=st.one_of(NAMES, st.sampled_from(["sprites", "a/b", "../../out", "/abs"])),
       category=st.sampled_from([*CATEGORIES, "nope"]))
def test_export_writes_inside_the_project_or_refuses_cleanly(name, variant, subdir, category):
    with tempfile.TemporaryDirectory() as base:
        project, outside = Path(base) / "game", Path(base) / "outside"
        project.mkdir()
        outside.mkdir()
        try:
            report = export_to_bevy(SHEET, project, category=category, name=name, variant=variant, subdir=subdir)
        except ValueError as refused:
            assert str(refused)
            written = [p for p in project.rglob("*") if p.is_file()]
            assert all(".dgx-pixels" in p.parts for p in written), f"refused but wrote {written}"
        else:
            assert report.written
            for path in project.rglob("*"):
                assert path.resolve().is_relative_to(project.resolve())
        assert list(outside.iterdir()) == []
        assert sorted(p.name for p in Path(base).iterdir()) == ["game", "outside"]
        assert [p for p in project.rglob("*") if "dgxtmp" in p.name] == []
