"""RON strings by ron-rs's grammar: UTF-8 as is, only RON escapes, and a reader that is just as strict."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgx_pixels.ops.export_formats import _ron_string, assets_ron, atlas_ron, parse_ron
from dgx_pixels.ops.sheet import AnimationTag, SheetOptions, build_sheet

NAMES = ["héros", "龍", "🐉 dragon", 'say "hi"', "back\\slash", "two\nlines", "tab\there", "bell\x07", "del\x7f"]

# What ron-rs (src/parse.rs, parse_escape) accepts after a backslash in a string.
_ALLOWED_ESCAPE = re.compile(r"""\\(?:['"\\nrt0]|x[0-9A-Fa-f]{2}|u\{[0-9A-Fa-f]{1,6}\})""")


def escapes_are_ron(literal: str) -> bool:
    """Check every backslash of a quoted literal against ron-rs's escape list, independently of parse_ron."""
    body, i = literal[1:-1], 0
    while (j := body.find("\\", i)) >= 0:
        match = _ALLOWED_ESCAPE.match(body, j)
        if match is None:
            return False
        i = match.end()
    return True


def _sheet(names: list[str]):
    frames = np.zeros((len(names), 8, 8, 4), np.uint8)
    for i in range(len(names)):
        frames[i, 1 : 2 + i % 6, 2:6] = (30 * i % 256, 100, 200, 255)
    tags = [AnimationTag(name, i, i) for i, name in enumerate(names)]
    return build_sheet(frames, tags=tags, names=names, options=SheetOptions(layout="grid", columns=3))


def test_atlas_ron_writes_utf8_and_ron_escapes_only():
    sheet = _sheet(NAMES)
    text = atlas_ron(sheet, "héros 龍.png")
    # Non-ASCII stays UTF-8; JSON's \u00e9 (rejected by ron-rs: "Missing { in Unicode escape") never appears.
    assert '"héros 龍.png"' in text and '"龍"' in text and "🐉" in text
    assert not re.search(r"(?<!\\)(?:\\\\)*\\u[0-9A-Fa-f]", text)
    for literal in re.findall(r'"(?:[^"\\]|\\.)*"', text, re.DOTALL):
        assert escapes_are_ron(literal), literal
    assert r'"say \"hi\""' in text and r'"back\\slash"' in text and r'"two\nlines"' in text
    assert r'"tab\there"' in text and r'"bell\u{7}"' in text and r'"del\u{7f}"' in text
    doc = parse_ron(text)
    assert doc["image"] == "héros 龍.png"
    assert [f["name"] for f in doc["frames"]] == NAMES
    assert list(doc["animations"]) == NAMES


def test_assets_ron_keys_and_paths_keep_unicode():
    grid = _sheet(["a", "b"])
    text = assets_ron(grid, "sprites/héros/龍 🐉.png", "héros")
    assert '"héros.image"' in text and '"sprites/héros/龍 🐉.png"' in text
    doc = parse_ron(text)
    assert doc["héros.image"]["path"] == "sprites/héros/龍 🐉.png"
    assert doc["héros.layout"]["$type"] == "TextureAtlasLayout"


@settings(max_examples=300, deadline=None)
@given(st.text())  # hypothesis leaves out lone surrogates by default
def test_ron_string_round_trips_any_text(value):
    literal = _ron_string(value)
    assert escapes_are_ron(literal)
    assert parse_ron(literal) == value


def test_lone_surrogate_is_refused_not_written():
    # surrogateescape file names carry lone surrogates; RON (and UTF-8) cannot hold them.
    with pytest.raises(ValueError, match="surrogate"):
        _ron_string("h\udce9ros")
    with pytest.raises(ValueError, match="surrogate"):
        atlas_ron(_sheet(["a"]), "h\udce9ros.png")


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"\u{e9}"', "é"),
        (r'"\u{9F8D}"', "龍"),
        (r'"\u{1F409}"', "🐉"),
        (r'"\u{000041}"', "A"),
        (r'"\x41\xc3\xa9"', "Aé"),
        (r'''"\'\"\\\n\r\t\0"''', "'\"\\\n\r\t\0"),
        ('"line\nbreak"', "line\nbreak"),  # literal newlines are allowed
        (r'r"raw \u00e9 \n"', r"raw \u00e9 \n"),  # raw strings take no escapes
        ('r#"has "quotes""#', 'has "quotes"'),
    ],
)
def test_parse_ron_reads_ron_escapes(literal, value):
    assert parse_ron(literal) == value


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (r'"h\u00e9ros"', r"braces.*\\u\{e9\}"),  # JSON style: what the old writer produced
        (r'"\u{}"', "hex digits"),
        (r'"\u{1234567}"', "hex digits"),
        (r'"\u{e9"', "hex digits"),
        (r'"\u{D800}"', "scalar"),
        (r'"\u{110000}"', "scalar"),
        (r'"\b"', "unknown escape"),
        (r'"\f"', "unknown escape"),
        (r'"\/"', "unknown escape"),
        (r'"\xc3"', "UTF-8"),
        (r'"\xff\x41"', "UTF-8"),
    ],
)
def test_parse_ron_rejects_what_ron_rs_rejects(literal, message):
    with pytest.raises(ValueError, match=message):
        parse_ron(literal)


RONCHK = Path(__file__).resolve().parents[2] / "tools" / "ronchk"


@pytest.fixture(scope="module")
def ron_rs(tmp_path_factory) -> str:
    """Path of the ron-rs checker, built offline from Debian's crates (librust-ron-dev); skipped where they are
    missing, unless $DGX_PIXELS_REQUIRE_RON_CHECK is set (CI sets it, so there it must build)."""
    required = bool(os.environ.get("DGX_PIXELS_REQUIRE_RON_CHECK"))
    if not shutil.which("cargo") or not list(Path("/usr/share/cargo/registry").glob("ron-0.7*")):
        if required:
            pytest.fail("cargo and Debian's librust-ron-dev are needed for the ron-rs check")
        pytest.skip("cargo and Debian's librust-ron-dev (apt) build the ron-rs checker")
    target = tmp_path_factory.mktemp("ronchk-target")
    built = subprocess.run(["cargo", "build", "--release", "--offline", "--quiet", "--target-dir", str(target)],
                           cwd=RONCHK, capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr
    return str(target / "release" / "ronchk")


def test_real_ron_parser_accepts_our_files(ron_rs):
    checker = ron_rs
    for text in (atlas_ron(_sheet(NAMES), "héros 龍.png"), assets_ron(_sheet(["a"]), "héros/🐉.png", "héros")):
        done = subprocess.run([checker], input=text.encode(), capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr.decode()
    bad = subprocess.run([checker], input='"h\\u00e9ros"'.encode(), capture_output=True, timeout=60, check=False)
    assert bad.returncode != 0  # the checker is strict: it rejects the JSON escape the old writer made
