"""The pack as pip installs it: a wheel built from this tree, installed (not editable) into a fresh virtual
environment, must hold every data file the pack reads and run the bundled workflows' commands.

Built without build isolation and installed with --no-index: nothing is downloaded. The fresh environment sees the
project environment's dependencies through a .pth line (not its site directory, so the editable install of this
tree stays out of it).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

PACK_ROOT = Path(__file__).resolve().parents[2]
DATA = ("workflows/*.json", "workflows/api/*.json", "web/**/*.*", "metrics/alerts.yml",
        "metrics/grafana-dashboard.json", "docs/*.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # From a copy: setuptools reuses a build/ folder in the tree, which could ship files removed since.
    source = tmp_path_factory.mktemp("source") / "dgx-pixels"
    shutil.copytree(PACK_ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", ".engine", "build", "dist",
                                                                       "*.egg-info", "__pycache__", "demo_output"))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    return next(out.glob("dgx_pixels-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """Return the bin/ folder of a fresh venv with the wheel installed."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    target_site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (target_site / "project-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return venv / "bin"


def _tracked(pattern: str) -> list[str]:
    return sorted(str(p.relative_to(PACK_ROOT)) for p in PACK_ROOT.glob(pattern) if p.is_file())


def test_wheel_holds_every_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [path for pattern in DATA for path in _tracked(pattern) if f"dgx_pixels/{path}" not in names]
    assert missing == []


def test_installed_wheel_lists_and_prepares_the_bundled_workflows(installed, tmp_path):
    code = ("import json, dgx_pixels.engine.params as p; w = p.bundled_workflows(); "
            "print(json.dumps({'file': p.__file__, 'names': sorted(w), "
            "'sprite_params': sorted(w['text_to_sprite'].params)}))")
    # From a folder outside the tree, so nothing can come from the checkout.
    done = subprocess.run([str(installed / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": ""}, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert str(PACK_ROOT) not in report["file"]
    assert {"text_to_sprite", "txt2img_basic"} <= set(report["names"])
    assert "lora" in report["sprite_params"]  # the KeyError: 'lora' of `generate` on a wheel without manifests


def test_installed_console_script_runs_a_bundled_workflow_name(installed, tmp_path):
    # Against a closed port: the workflow is found and prepared up to the engine call (exit 3: no engine).
    done = subprocess.run([str(installed / "dgx-pixels"), "submit", "txt2img_basic", "--engine", "http://127.0.0.1:9"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_installed_mcp_server_lists_every_bundled_workflow_over_stdio(installed, tmp_path):
    # What an MCP client config launches, from the wheel: no engine is needed to list the workflows.
    import asyncio

    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=str(installed / "python"), cwd=str(tmp_path),
                                   args=["-m", "dgx_pixels.cli.bridge", "mcp", "--engine", "http://127.0.0.1:9"],
                                   env={**os.environ, "PYTHONPATH": "", "FASTMCP_LOG_LEVEL": "WARNING"})

    async def go() -> list[str]:
        with open(tmp_path / "stderr.log", "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    listed = await session.call_tool("list_workflows", {})
                    assert not listed.is_error, listed
                    return [w["name"] for w in listed.structured_content["workflows"]]

    names = asyncio.run(go())
    bundled = {p.name.removesuffix(".params.json") for p in (PACK_ROOT / "workflows" / "api").glob("*.params.json")}
    assert bundled <= set(names) and len(bundled) >= 8, names
