"""Hostile ``dgx-pixels`` invocations: each ends with a non-zero exit code and ONE ``dgx-pixels:`` line on stderr,
never a Python traceback (that needs --debug). Most run in-process (fast); a few through a real subprocess prove
that nothing prints a traceback on the way out."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from dgx_pixels.cli.common import check_writable_file, port_number
from dgx_pixels.cli.main import main

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens there, so no engine answers


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(path: Path) -> None:
    """Write a 68-byte PNG whose header claims 100000×100000 1-bit pixels (PIL's DecompressionBombError)."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 8))
                     + _chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Inputs of the hostile cases, by name."""
    root = tmp_path_factory.mktemp("hostile")
    Image.new("RGB", (16, 16), (10, 20, 30)).save(root / "in.png")
    _bomb_png(root / "bomb.png")
    (root / "afile").write_text("not a folder")
    (root / "adir").mkdir()
    (root / "garbage.png").write_bytes(b"not an image")
    if os.geteuid() == 0:
        # root writes through chmod, so use what the kernel refuses even to root
        readonly, unreadable = "/sys", "/proc/self/mem"
    else:
        (root / "ro").mkdir()
        (root / "ro").chmod(0o555)
        (root / "secret.png").write_bytes((root / "in.png").read_bytes())
        (root / "secret.png").chmod(0)
        readonly, unreadable = str(root / "ro"), str(root / "secret.png")
    return {"root": str(root), "in": str(root / "in.png"), "bomb": str(root / "bomb.png"),
            "afile": str(root / "afile"), "adir": str(root / "adir"), "garbage": str(root / "garbage.png"),
            "ro": readonly, "unreadable": unreadable, "out": str(root / "out"),
            "nonutf8": os.fsdecode(os.fsencode(root) + b"/missing-\xff.png")}


# (id, argv) with {name} filled from ``files``
HOSTILE = [
    ("out-is-a-file", ["pixelize", "{in}", "--out", "{afile}", "--size", "8x8"]),
    ("out-read-only", ["pixelize", "{in}", "--out", "{ro}", "--size", "8x8"]),
    ("decompression-bomb", ["pixelize", "{bomb}", "--out", "{out}", "--size", "8x8"]),
    ("sheet-bomb", ["sheet", "{bomb}", "--out", "{out}", "--name", "x"]),
    ("engine-not-a-url", ["submit", "txt2img_basic", "--engine", "notaurl"]),
    ("engine-bad-ipv6", ["status", "abc", "--engine", "http://[::1"]),
    ("engine-closed-port", ["status", "abc", "--engine", CLOSED]),
    ("scale-100000", ["pixelize", "{in}", "--out", "{out}", "--size", "8x8", "--scale", "100000"]),
    ("scale-100000-auto-grid", ["pixelize", "{in}", "--out", "{out}", "--grid", "auto", "--scale", "100000"]),
    ("metrics-port-70000", ["metrics-exporter", "--port", "70000"]),
    ("engine-start-port-70000", ["engine", "start", "--port", "70000"]),
    ("missing-input", ["pixelize", "{root}/missing.png", "--out", "{out}", "--size", "8x8"]),
    ("directory-input", ["pixelize", "{adir}", "--out", "{out}", "--size", "8x8"]),
    ("unreadable-input", ["pixelize", "{unreadable}", "--out", "{out}", "--size", "8x8"]),
    ("not-an-image", ["pixelize", "{garbage}", "--out", "{out}", "--size", "8x8"]),
    ("non-utf8-name", ["pixelize", "{nonutf8}", "--out", "{out}", "--size", "8x8"]),
    ("palette-is-a-folder", ["pixelize", "{in}", "--out", "{out}", "--size", "8x8", "--palette", "{adir}"]),
    ("sheet-out-is-a-file", ["sheet", "{in}", "--out", "{afile}", "--name", "x"]),
    ("submit-directory-workflow", ["submit", "{adir}", "--engine", CLOSED]),
    ("submit-out-is-a-file", ["submit", "txt2img_basic", "--out", "{afile}", "--engine", CLOSED]),
    ("generate-out-is-a-file", ["generate", "character", "knight", "--out", "{afile}", "--engine", CLOSED]),
    ("compare-out-is-a-folder", ["compare", "x", "--lora", "a", "--out", "{adir}", "--engine", CLOSED]),
    ("train-lora-out-is-a-folder", ["train-lora", "--data", "{adir}", "--base", "x", "--out", "{adir}"]),
    ("train-lora-out-read-only", ["train-lora", "--data", "{adir}", "--base", "x", "--out", "{ro}/x.safetensors"]),
    ("train-lora-out-under-a-file", ["train-lora", "--data", "{adir}", "--base", "x",
                                     "--out", "{afile}/x.safetensors"]),
    ("no-command", []),
]


def _argv(template: list[str], files: dict[str, str]) -> list[str]:
    return [part.format(**files) for part in template]


def _assert_one_error_line(code: object, stderr: str, label: str = "") -> None:
    assert code not in (0, None), f"{label} exited 0: {stderr}"
    assert "Traceback" not in stderr, f"{label}: {stderr}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"{label}: {stderr}"
    assert lines[0].startswith("dgx-pixels:"), f"{label}: {stderr}"


@pytest.mark.parametrize("template", [argv for _, argv in HOSTILE], ids=[name for name, _ in HOSTILE])
def test_hostile_invocation_in_process(template, files, capsys):
    try:
        code = main(_argv(template, files))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    _assert_one_error_line(code, capsys.readouterr().err)


def test_hostile_invocations_through_subprocesses(files):
    """The real command line, started all at once (each start imports torch for about 2 s)."""
    picked = ["decompression-bomb", "engine-bad-ipv6", "scale-100000", "non-utf8-name", "train-lora-out-read-only"]
    argvs = {name: _argv(argv, files) for name, argv in HOSTILE if name in picked}
    # strict UTF-8 output, as under a UTF-8 locale, where printing a non-UTF-8 file name used to raise
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    running = {name: subprocess.Popen([sys.executable, "-m", "dgx_pixels.cli", *argv], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, cwd=files["root"])
               for name, argv in argvs.items()}
    for name, process in running.items():
        _, stderr = process.communicate(timeout=120)
        _assert_one_error_line(process.returncode, stderr.decode("utf-8", "replace"), name)


def test_mcp_port_out_of_range(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["mcp", "--port", "70000", "--transport", "http"])
    _assert_one_error_line(exited.value.code, capsys.readouterr().err)


def test_port_number_type():
    assert port_number("1") == 1 and port_number("65535") == 65535
    for bad in ("0", "65536", "70000", "-1", "http"):
        with pytest.raises(Exception, match="port number"):
            port_number(bad)


def test_debug_shows_the_traceback(files, capsys):
    with pytest.raises(IsADirectoryError):
        main(["--debug", "submit", files["adir"], "--engine", CLOSED])
    with pytest.raises(IsADirectoryError):
        main(["submit", files["adir"], "--engine", CLOSED, "--debug"])


def test_a_bug_is_one_line_with_a_hint(monkeypatch, capsys):
    import dgx_pixels.cli.engine as engine_cli

    def broken(args):
        raise KeyError("oops")

    monkeypatch.setattr(engine_cli, "find_engine_dir", lambda: broken(None))
    assert main(["engine", "path"]) == 70
    err = capsys.readouterr().err
    _assert_one_error_line(70, err)
    assert "bug" in err and "--debug" in err


def test_non_utf8_output_name_is_printed(files, tmp_path):
    """A file name that is not UTF-8 is written and printed (as its bytes), not reported as an error afterwards."""
    name = os.fsdecode(os.fsencode(tmp_path) + b"/sprite-\xff.png")
    Image.new("RGB", (16, 16), (200, 10, 10)).save(name)
    result = subprocess.run([sys.executable, "-m", "dgx_pixels.cli", "pixelize", name, "--out", str(tmp_path / "o"),
                             "--size", "4x4"], capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(b"/sprite-\xff.png")


def test_train_lora_out_is_checked_before_training(files, monkeypatch, capsys):
    import dgx_pixels.lora.train as train

    def never(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train, "train_lora", never)
    assert main(["train-lora", "--data", files["adir"], "--base", "x", "--out", files["adir"]]) == 2
    assert "--out" in capsys.readouterr().err


def test_check_writable_file_accepts_a_new_file_in_a_missing_folder(tmp_path):
    target = tmp_path / "a" / "b" / "lora.safetensors"
    check_writable_file(target)
    assert not (tmp_path / "a").exists()  # nothing created by the check
