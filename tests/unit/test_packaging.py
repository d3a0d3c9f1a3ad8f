"""The pack's packaging contract: one dependency list, importable as dgx_pixels without ComfyUI or CUDA,
and nothing the Comfy Registry rejects."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((PACK_ROOT / "pyproject.toml").read_text())


def _requirement_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_requirements_txt_mirrors_pyproject_dependencies():
    requirements = _requirement_lines((PACK_ROOT / "requirements.txt").read_text())
    assert requirements == PYPROJECT["project"]["dependencies"]


def test_registry_metadata_is_complete_and_pins_the_tested_engine():
    from dgx_pixels import __version__
    from dgx_pixels.engine.local import PINNED_ENGINE_VERSION

    project = PYPROJECT["project"]
    assert project["name"] == "dgx-pixels"
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["version"] == __version__
    assert project["license"]
    comfy = PYPROJECT["tool"]["comfy"]
    for key in ("PublisherId", "DisplayName", "requires-comfyui"):
        assert comfy[key], key
    # No placeholder addresses: the pack is not published yet (an icon or repository URL comes with publishing).
    assert "Icon" not in comfy and "urls" not in project
    assert PINNED_ENGINE_VERSION in comfy["requires-comfyui"]
    assert "comfyui" not in project["name"].lower()


def test_design_card_layout_is_present():
    for name in ("__init__.py", "nodes", "web", "workflows", "lora", "mcp_bridge", "metrics", "install.py",
                 "requirements.txt", "tests", "docs", "pyproject.toml", "README.md", "Makefile", ".ci/run",
                 "LICENSE", ".comfyignore"):
        assert (PACK_ROOT / name).exists(), name


def test_pack_imports_without_comfyui_or_cuda():
    # A fresh interpreter: importing the package and its ComfyUI-free layers must not pull in ComfyUI.
    code = ("import sys, dgx_pixels, dgx_pixels.ops, dgx_pixels.engine.client, dgx_pixels.cli.main, "
            "dgx_pixels.engine.local; "
            "bad = [m for m in ('comfy', 'comfy_api', 'nodes', 'server', 'folder_paths') if m in sys.modules]; "
            "assert not bad, bad; assert callable(dgx_pixels.comfy_entrypoint); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "dgx-pixels"
    assert script.exists(), "pip install -e . did not install the dgx-pixels command"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "engine" in out.stdout and "doctor" in out.stdout


def test_every_cli_entry_point_runs():
    # python -m dgx_pixels.cli is the console script; the mcp_bridge names are 0.1's, still in MCP client configs.
    for module in ("dgx_pixels.cli", "dgx_pixels.cli.bridge", "dgx_pixels.mcp_bridge.cli",
                   "dgx_pixels.mcp_bridge.bridge_cli"):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "submit" in out.stdout, (module, out.stderr)


def test_bridge_entry_point_loads_no_torch():
    code = "import sys, dgx_pixels.cli.bridge, dgx_pixels.mcp_bridge.server; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_no_runtime_pip_eval_or_exec_in_shipped_code():
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=PACK_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    shipped = [PACK_ROOT / p for p in tracked if p.split("/")[0] not in {"tests", "bench", "scripts"}]
    assert shipped
    offenders = []
    for path in shipped:
        text = path.read_text()
        if re.search(r"\b(eval|exec)\(", text) or re.search(r"""["']pip["']\s*,\s*["']install""", text):
            offenders.append(str(path.relative_to(PACK_ROOT)))
    assert not offenders, offenders


def test_ops_touches_no_file():
    # ops/ is tensors in, tensors out: file access lives in export/ (user files) and host/ (system figures).
    touching = re.compile(r"\bopen\(|\.read_text\(|\.read_bytes\(|\.write_text\(|\.write_bytes\(|\.unlink\(|"
                          r"rmtree|os\.replace|os\.rename|\.rename\(|\.mkdir\(|fcntl|flock|tempfile|\.save\(")
    offences = []
    for path in sorted((PACK_ROOT / "ops").glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            # In-memory buffers are bytes, not files: Image.open(io.BytesIO(...)) and .save(buffer, ...) pass.
            code = line.split("#", 1)[0].replace("Image.open(io.BytesIO(", "").replace(".save(buffer", "")
            if touching.search(code):
                offences.append(f"ops/{path.name}:{number}: {line.strip()}")
    assert offences == []
