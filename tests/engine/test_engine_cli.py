"""`dgx-pixels engine ...` and `doctor` as a user runs them: real engines, real signals, no orphans left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dgx_pixels.engine.local import http_ok, pick_free_port

pytestmark = pytest.mark.engine

CLI = [sys.executable, "-m", "dgx_pixels.cli"]


def engine_pids(port: int) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"main.py --listen 127.0.0.1 --port {port}"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


@pytest.fixture
def cli_env(tmp_path):
    return dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))


def test_detached_start_status_stop_round_trip(tmp_path, cli_env):
    port = pick_free_port()
    started = subprocess.run(CLI + ["engine", "start", "--detach", "--cpu", "--port", str(port),
                                    "--run-dir", str(tmp_path / "run")],
                             capture_output=True, text=True, env=cli_env, timeout=300)
    try:
        assert started.returncode == 0, started.stderr
        assert f"http://127.0.0.1:{port}" in started.stdout
        assert http_ok(f"http://127.0.0.1:{port}/system_stats")

        status = subprocess.run(CLI + ["engine", "status"], capture_output=True, text=True, env=cli_env)
        assert f"http://127.0.0.1:{port}" in status.stdout and "healthy" in status.stdout

        taken = subprocess.run(CLI + ["engine", "start", "--detach", "--cpu", "--port", str(port)],
                               capture_output=True, text=True, env=cli_env, timeout=60)
        assert taken.returncode == 2 and f"port {port}" in taken.stderr and "already in use" in taken.stderr

        doctor = subprocess.run(CLI + ["doctor", "--engine", f"http://127.0.0.1:{port}"],
                                capture_output=True, text=True, env=cli_env, timeout=120)
        assert "reachable" in doctor.stdout and "ComfyUI 0.3.75" in doctor.stdout
        assert "NVML" in doctor.stdout and "torch" in doctor.stdout
    finally:
        stopped = subprocess.run(CLI + ["engine", "stop", "--port", str(port)], capture_output=True, text=True,
                                 env=cli_env, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the engine on port {port}" in stopped.stdout
    assert not engine_pids(port)
    assert not http_ok(f"http://127.0.0.1:{port}/system_stats")
    again = subprocess.run(CLI + ["engine", "stop", "--port", str(port)], capture_output=True, text=True, env=cli_env)
    assert again.returncode == 2 and "no detached DGX-Pixels engine" in again.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_foreground_engine_never_outlives_its_cli(tmp_path, cli_env, sig):
    port = pick_free_port()
    # As from a terminal: a test run started in the background (`cmd &` without job control) hands its children
    # SIGINT ignored, and an ignored SIGINT would never reach the CLI.
    cli = subprocess.Popen(CLI + ["engine", "start", "--cpu", "--port", str(port), "--run-dir", str(tmp_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while not http_ok(f"http://127.0.0.1:{port}/system_stats"):
            assert cli.poll() is None, cli.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert engine_pids(port)
        cli.send_signal(sig)  # SIGINT is Ctrl-C; SIGKILL leaves no chance to clean up
        cli.wait(timeout=60)
        deadline = time.monotonic() + 30
        while engine_pids(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not engine_pids(port), f"engine left running after {sig.name}"
    finally:
        if cli.poll() is None:
            cli.kill()
        for pid in engine_pids(port):
            os.kill(pid, signal.SIGKILL)


def test_engine_path_prints_the_engine_folder(cli_env):
    out = subprocess.run(CLI + ["engine", "path"], capture_output=True, text=True, env=cli_env)
    assert out.returncode == 0
    assert (Path(out.stdout.strip()) / "main.py").exists()
