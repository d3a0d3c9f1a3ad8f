"""Engine discovery and the install script, on fake folders (no engine process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dgx_pixels.engine import local as local_engine
from dgx_pixels.engine.local import EngineError

PACK_ROOT = Path(__file__).resolve().parents[3]


def make_fake_comfyui(root: Path, version: str = "0.3.75") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("main.py", "nodes.py", "server.py"):
        (root / name).write_text("")
    (root / "comfy").mkdir(exist_ok=True)
    (root / "comfyui_version.py").write_text(f'__version__ = "{version}"\n')
    return root


def test_comfyui_dir_that_is_not_comfyui_is_refused_with_what_is_missing(tmp_path, monkeypatch):
    (tmp_path / "main.py").write_text("")
    monkeypatch.setenv("COMFYUI_DIR", str(tmp_path))
    with pytest.raises(EngineError, match=r"not a ComfyUI install \(missing nodes.py, server.py, comfy\)"):
        local_engine.find_engine_dir()


def test_comfyui_dir_that_does_not_exist_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("COMFYUI_DIR", str(tmp_path / "nope"))
    with pytest.raises(EngineError, match="does not exist"):
        local_engine.find_engine_dir()


def test_comfyui_dir_wins_over_the_pinned_engine(tmp_path, monkeypatch):
    fake = make_fake_comfyui(tmp_path / "ComfyUI", "0.3.80")
    monkeypatch.setenv("COMFYUI_DIR", str(fake))
    assert local_engine.find_engine_dir() == fake.resolve()
    assert local_engine.engine_version(fake) == "0.3.80"


def test_link_pack_is_idempotent_and_never_replaces_a_real_folder(tmp_path):
    fake = make_fake_comfyui(tmp_path / "ComfyUI")
    link = local_engine.link_pack(fake)
    assert link.is_symlink() and link.resolve() == PACK_ROOT
    assert local_engine.link_pack(fake) == link
    link.unlink()
    (fake / "custom_nodes" / "dgx_pixels").mkdir()
    with pytest.raises(EngineError, match="is not a link to this pack"):
        local_engine.link_pack(fake)


def test_taken_port_is_detected_and_refused(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not local_engine.port_is_free(port)
        fake = make_fake_comfyui(tmp_path / "ComfyUI")
        with pytest.raises(EngineError, match=f"port {port} on 127.0.0.1 is already in use"):
            local_engine.start_engine(port=port, engine_dir=fake, cpu=True)


def test_engine_that_crashes_at_start_reports_its_log_tail(tmp_path):
    fake = make_fake_comfyui(tmp_path / "ComfyUI")
    (fake / "main.py").write_text("import sys\nprint('boom: missing module xyz', flush=True)\nsys.exit(3)\n")
    with pytest.raises(EngineError, match=r"exited with code 3(.|\n)*boom: missing module xyz"):
        local_engine.start_engine(engine_dir=fake, cpu=True, run_dir=tmp_path / "run", wait_s=30)


def test_engine_that_never_answers_is_stopped_after_the_wait(tmp_path):
    fake = make_fake_comfyui(tmp_path / "ComfyUI")
    (fake / "main.py").write_text("import time\nprint('hanging', flush=True)\ntime.sleep(600)\n")
    with pytest.raises(EngineError, match=r"did not answer(.|\n)*hanging"):
        local_engine.start_engine(engine_dir=fake, cpu=True, run_dir=tmp_path / "run", wait_s=3)
    # The hanging process was killed: no python main.py of that folder is left.
    leftovers = subprocess.run(["pgrep", "-f", str(fake)], capture_output=True, text=True).stdout.split()
    assert not [pid for pid in leftovers if int(pid) != os.getpid()]


def test_install_script_is_idempotent(tmp_path):
    fake = make_fake_comfyui(tmp_path / "ComfyUI")
    env = dict(os.environ, COMFYUI_DIR=str(fake))
    first = subprocess.run([sys.executable, str(PACK_ROOT / "install.py")], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert "created models/checkpoints" in first.stdout and "created models/loras" in first.stdout
    assert (fake / "models" / "loras").is_dir()
    second = subprocess.run([sys.executable, str(PACK_ROOT / "install.py")], capture_output=True, text=True, env=env)
    assert second.returncode == 0
    assert "created" not in second.stdout and "models/loras exists" in second.stdout


def test_install_script_warns_about_an_old_engine(tmp_path):
    fake = make_fake_comfyui(tmp_path / "ComfyUI", "0.3.40")
    env = dict(os.environ, COMFYUI_DIR=str(fake))
    out = subprocess.run([sys.executable, str(PACK_ROOT / "install.py")], capture_output=True, text=True, env=env)
    assert "WARNING: ComfyUI 0.3.40" in out.stdout
