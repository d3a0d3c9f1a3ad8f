"""The engine harness: one real ComfyUI with the pack loaded, started once per test session.

Tests speak HTTP/WebSocket to it exactly as users do, through the pack's own engine client.
"""

from __future__ import annotations

import asyncio
import os
import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dgx_pixels.engine.client import EngineClient, OutputFile, PromptResult
from dgx_pixels.engine.local import EngineRun, find_engine_dir, pick_free_port, start_engine

TINY_CHECKPOINT = "dgx-pixels-tiny-sd15.safetensors"


class RunningEngine:
    """A running engine plus the folders it reads and writes."""

    def __init__(self, run: EngineRun, run_dir: Path, engine_dir: Path):
        self.run = run
        self.url = run.url
        self.run_dir = run_dir
        self.engine_dir = engine_dir
        self.log_path = Path(run.log_path)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def engine_dir() -> Path:
    return find_engine_dir()


@pytest.fixture(scope="session")
def tiny_checkpoint(engine_dir: Path) -> str:
    """Build the tiny SD1.5-shaped checkpoint into the engine's models/checkpoints (once; reused after)."""
    target = engine_dir / "models" / "checkpoints" / TINY_CHECKPOINT
    if not target.exists():
        # A separate process: importing comfy here would tie this test process to ComfyUI's global state.
        subprocess.run([sys.executable, "-m", "dgx_pixels.lora.tiny_checkpoint", "--engine", str(engine_dir),
                        "--out", str(target)], check=True)
    return TINY_CHECKPOINT


@pytest.fixture(scope="session")
def engine(tmp_path_factory, engine_dir: Path, tiny_checkpoint: str):
    run_dir = tmp_path_factory.mktemp("engine")
    # Nodes write only under the output folder and $DGX_PIXELS_ALLOWED_ROOTS: every test's tmp_path is allowed.
    os.environ["DGX_PIXELS_ALLOWED_ROOTS"] = str(tmp_path_factory.getbasetemp())
    # A random free port, never the default 8188 a developer's own engine may be using.
    run = start_engine(port=pick_free_port(), engine_dir=engine_dir, run_dir=run_dir, cpu=True)
    try:
        yield RunningEngine(run, run_dir, engine_dir)
    finally:
        run.stop()


def _run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def run_prompt(engine: RunningEngine):
    """``run_prompt(prompt, timeout_s=300)`` queues an API-format prompt and returns its PromptResult."""

    def run(prompt: dict, timeout_s: float = 300.0) -> PromptResult:
        async def go():
            async with EngineClient(engine.url) as client:
                return await client.run(prompt, timeout_s=timeout_s)

        return _run(go())

    return run


@pytest.fixture(scope="session")
def fetch_image(engine: RunningEngine):
    """``fetch_image(output_file)`` downloads an output through /view and opens it with PIL."""

    def fetch(file: OutputFile) -> Image.Image:
        async def go():
            async with EngineClient(engine.url) as client:
                return await client.download(file)

        image = Image.open(io.BytesIO(_run(go())))
        image.load()
        return image

    return fetch


@pytest.fixture(scope="session")
def upload_png(engine: RunningEngine):
    """``upload_png(pil_image, name)`` uploads a PNG into the engine's input folder; returns the LoadImage name."""

    def upload(image: Image.Image, name: str) -> str:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")

        async def go():
            async with EngineClient(engine.url) as client:
                return await client.upload_image(buffer.getvalue(), name, overwrite=True)

        return _run(go())

    return upload


@pytest.fixture(scope="session")
def engine_client_call(engine: RunningEngine):
    """``engine_client_call(lambda client: client.object_info())`` runs one client coroutine against the engine."""

    def call(fn):
        async def go():
            async with EngineClient(engine.url) as client:
                return await fn(client)

        return _run(go())

    return call
