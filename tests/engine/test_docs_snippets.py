"""Docs that run: every ```python / ```sh / ```bash block of README.md and docs/*.md is run against the real engine,
or carries an explicit marker right before it saying why not.

Markers (an HTML comment on the line just before the opening fence):
- ``<!-- not run: REASON -->``: a synopsis, or it needs SDXL, a GPU, another program, or serves until stopped;
- ``<!-- run with: ARGS -->``: run a python block as ``python snippet.py ARGS``;
- ``<!-- run: exit N -->``: the block is meant to fail with exit code N.

Blocks run verbatim in a fresh folder holding ``sprite.png`` (a small RGBA PNG), with ``.venv/bin`` first on PATH,
``$DGX_PIXELS_ENGINE`` and ``$COMFYUI_DIR`` naming the test engine. The only text replaced: the default engine URL
``http://127.0.0.1:8188`` becomes the test engine's URL, and in docs/mcp.md the bridge URL
``http://127.0.0.1:8765/mcp`` and ``<token>`` become a bridge this test starts over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgx_pixels.engine.local import pick_free_port

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"python", "sh", "bash", "shell", "console"}
FENCE = re.compile(r"^```(\S*)\s*$")
MARKER = re.compile(r"^<!--\s*(not run|run with|run):\s*(.*?)\s*-->$")
ENGINE_URL = "http://127.0.0.1:8188"
BRIDGE_URL = "http://127.0.0.1:8765/mcp"
TOKEN = "docs-snippet-token"


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    code: str
    marker: str | None = None
    argument: str = ""

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        index = 0
        while index < len(lines):
            match = FENCE.match(lines[index])
            if not match:
                index += 1
                continue
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            block = Block(path, index + 1, match.group(1).lower(), "\n".join(lines[index + 1:end]) + "\n")
            marker = MARKER.match(lines[index - 1].strip()) if index else None
            if marker:
                block.marker, block.argument = marker.group(1), marker.group(2)
            found.append(block)
            index = end + 1
    return found


ALL = blocks()
TO_RUN = [b for b in ALL if b.lang in RUNNABLE and b.marker != "not run"]


def test_every_shell_and_python_block_is_run_or_marked_with_a_reason():
    untagged = [b.id for b in ALL if not b.lang]
    assert not untagged, f"fenced blocks without a language (tag them text, sh, python...): {untagged}"
    unreasoned = [b.id for b in ALL if b.marker == "not run" and not b.argument]
    assert not unreasoned, f"'not run' markers without a reason: {unreasoned}"
    stray = [b.id for b in ALL if b.marker and b.lang not in RUNNABLE]
    assert not stray, f"markers before blocks that are never run anyway: {stray}"
    assert {b.path.name for b in TO_RUN} >= {"README.md", "scripting.md", "mcp.md", "workflows.md", "generate.md"}


def _sprite(path: Path) -> None:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[16:48, 20:44] = (200, 40, 40, 255)
    rgba[16:24, 20:44] = (30, 30, 30, 255)
    Image.fromarray(rgba, "RGBA").save(path)


@pytest.fixture(scope="module")
def http_bridge(engine, tmp_path_factory):
    """`dgx-pixels mcp --transport http` with a token, on a free port, as docs/mcp.md starts it."""
    port = pick_free_port()
    log = tmp_path_factory.mktemp("bridge") / "bridge.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "dgx_pixels.cli.bridge", "mcp", "--transport", "http",
                                    "--port", str(port), "--token", TOKEN, "--engine", engine.url,
                                    "--results", str(log.parent / "results")], stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("block", TO_RUN, ids=lambda b: b.id)
def test_doc_block_runs_against_the_engine(block, engine, tiny_checkpoint, tmp_path, request):
    code = block.code.replace(ENGINE_URL, engine.url)
    if BRIDGE_URL in code:
        code = code.replace(BRIDGE_URL, request.getfixturevalue("http_bridge")).replace("<token>", TOKEN)
    _sprite(tmp_path / "sprite.png")
    env = dict(os.environ, DGX_PIXELS_ENGINE=engine.url, COMFYUI_DIR=str(engine.engine_dir),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if block.lang == "python":
        (tmp_path / "snippet.py").write_text(code)
        args = shlex.split(block.argument) if block.marker == "run with" else []
        command = [sys.executable, "snippet.py", *args]
    else:
        (tmp_path / "snippet.sh").write_text(code)
        command = ["bash", "-e", "-o", "pipefail", "snippet.sh"]
    expected = int(block.argument.removeprefix("exit").strip()) if block.marker == "run" else 0
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540)
    report = f"{block.id} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == expected, report
    assert "Traceback" not in done.stderr, report
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("sprite.png", "snippet.py",
                                                                                "snippet.sh")]
    # A snippet that exits 0 having shown and written nothing never did its work (e.g. a main() never called).
    assert expected or done.stdout.strip() or written, f"{block.id} printed and wrote nothing: {report}"
    if expected == 0 and ("--out" in code or "write_bytes" in code):
        assert [p for p in written if p.suffix == ".png"], f"{block.id} wrote no image: {report}"


def test_a_short_tool_call_over_http_is_one_event_stream_message(http_bridge):
    """docs/mcp.md: over HTTP even a short answer is `text/event-stream` with one `event: message` (the old text
    said a plain JSON response)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "Authorization": f"Bearer {TOKEN}"}

    def post(body: dict, session: str | None = None):
        extra = {"mcp-session-id": session, "mcp-protocol-version": "2025-06-18"} if session else {}
        request = urllib.request.Request(http_bridge, json.dumps(body).encode(), {**headers, **extra})
        response = urllib.request.urlopen(request, timeout=60)
        return response, response.read().decode()

    response, _ = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "docs-test", "version": "1"}}})
    session = response.headers["mcp-session-id"]
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    response, body = post({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                           "params": {"name": "list_workflows", "arguments": {}}}, session)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [line for line in body.splitlines() if line.startswith("event:")]
    assert events == ["event: message"], body[:500]
    data = json.loads(next(line for line in body.splitlines() if line.startswith("data:")).removeprefix("data:"))
    assert data["id"] == 2 and "result" in data
