"""Finding, starting and stopping a local ComfyUI engine with the pack loaded.

Used by the ``dgx-pixels engine`` commands, the demo and the test harness, so all three start the engine the
same way: headless on a loopback port, ``--cpu`` when there is no CUDA, the pack linked into ``custom_nodes``.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PINNED_ENGINE_VERSION = "0.3.75"
PACK_LINK_NAME = "dgx_pixels"
DEFAULT_PORT = 8188
DEFAULT_HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]


class EngineError(RuntimeError):
    """The engine could not be found, started or stopped; the message says why and what to do."""


def check_engine_dir(path: Path) -> Path:
    """Return ``path`` resolved if it holds a ComfyUI install; raise EngineError naming what is missing."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise EngineError(f"{path} does not exist or is not a folder; point COMFYUI_DIR at a ComfyUI install")
    missing = [name for name in ("main.py", "nodes.py", "server.py", "comfy") if not (path / name).exists()]
    if missing:
        raise EngineError(f"{path} is not a ComfyUI install (missing {', '.join(missing)}); "
                          "set COMFYUI_DIR to the folder that holds ComfyUI's main.py")
    return path.resolve()


def find_engine_dir() -> Path:
    """Return the engine to use: $COMFYUI_DIR, else the ComfyUI this pack sits in, else the pinned copy.

    Raises EngineError when none is found (with the command that provisions one).
    """
    if os.environ.get("COMFYUI_DIR"):
        return check_engine_dir(Path(os.environ["COMFYUI_DIR"]))
    if REPO_ROOT.parent.name == "custom_nodes":
        try:
            return check_engine_dir(REPO_ROOT.parent.parent)
        except EngineError:
            pass
    pinned = REPO_ROOT / ".engine" / "ComfyUI"
    if (pinned / "main.py").exists():
        return check_engine_dir(pinned)
    raise EngineError(f"no ComfyUI engine found: run `make setup` (it installs ComfyUI {PINNED_ENGINE_VERSION} "
                      f"into {pinned}) or set COMFYUI_DIR to an existing install")


def engine_version(engine_dir: Path) -> str | None:
    """Return the ComfyUI version string of ``engine_dir`` (from comfyui_version.py), or None if unknown."""
    try:
        text = (Path(engine_dir) / "comfyui_version.py").read_text()
    except OSError:
        return None
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", text)
    return match.group(1) if match else None


def link_pack(engine_dir: Path) -> Path:
    """Make ``custom_nodes/dgx_pixels`` point at this pack (idempotent) and return the link path.

    A pack that already lives inside the engine's custom_nodes is left where it is.
    """
    custom_nodes = Path(engine_dir) / "custom_nodes"
    if REPO_ROOT.parent.resolve() == custom_nodes.resolve():
        return REPO_ROOT
    custom_nodes.mkdir(exist_ok=True)
    link = custom_nodes / PACK_LINK_NAME
    if link.is_symlink() and link.resolve() == REPO_ROOT:
        return link
    if link.exists() and not link.is_symlink():
        raise EngineError(f"{link} exists and is not a link to this pack; remove it or install the pack there")
    if link.is_symlink():
        link.unlink()
    link.symlink_to(REPO_ROOT, target_is_directory=True)
    return link


def port_is_free(port: int, host: str = DEFAULT_HOST) -> bool:
    """Return True when nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_free_port(host: str = DEFAULT_HOST) -> int:
    """Return a port the OS reports free on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def cuda_available() -> bool:
    """Return True when torch sees a CUDA device (False when torch is missing)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def state_dir() -> Path:
    """Folder that records detached engines (pid, port, log)."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    path = base / "dgx-pixels" / "engines"
    path.mkdir(parents=True, exist_ok=True)
    return path


def http_json(url: str, timeout_s: float = 2.0) -> dict | None:
    """Return the JSON body of GET ``url`` when it answers 200, else None."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (loopback URL we built)
            return json.loads(response.read()) if response.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Return True when GET ``url`` answers 200 with a JSON body (the engine's health endpoints all do)."""
    return http_json(url, timeout_s) is not None


def log_tail(path: Path | None, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a log file, or '' when there is none."""
    if path is None or not Path(path).exists():
        return ""
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def _die_with_parent() -> None:
    # Linux: the engine gets SIGTERM if the process that started it dies, even by SIGKILL.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class EngineRun:
    """A started engine. ``stop()`` ends it and everything it spawned."""

    url: str
    port: int
    pid: int
    engine_dir: str
    log_path: str | None
    started_at: float = field(default_factory=time.time)
    process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def record(self) -> dict:
        return {name: getattr(self, name) for name in ("url", "port", "pid", "engine_dir", "log_path", "started_at")}

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return _pid_is_engine(self.pid, self.port)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Terminate the engine's process group (SIGTERM, then SIGKILL after ``timeout_s``)."""
        _terminate_group(self.pid, timeout_s, self.process)
        pidfile = state_dir() / f"engine-{self.port}.json"
        if pidfile.exists():
            try:
                if json.loads(pidfile.read_text()).get("pid") == self.pid:
                    pidfile.unlink()
            except (OSError, ValueError):
                pidfile.unlink(missing_ok=True)


def _pid_is_engine(pid: int, port: int) -> bool:
    # Guards against a recycled pid: the process must still be a ComfyUI main.py on that port.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [part.decode(errors="replace") for part in cmdline]
    return any(a.endswith("main.py") for a in args) and str(port) in args


def _terminate_group(pid: int, timeout_s: float, process: subprocess.Popen | None) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError as exc:
            raise EngineError(f"not allowed to stop engine process {pid}: {exc}") from exc
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process is not None:
                if process.poll() is not None:
                    return
            else:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                if Path(f"/proc/{pid}/stat").exists() and " Z " in Path(f"/proc/{pid}/stat").read_text():
                    return
            time.sleep(0.1)


def start_engine(
    port: int | None = None,
    *,
    host: str = DEFAULT_HOST,
    engine_dir: Path | None = None,
    cpu: bool | None = None,
    run_dir: Path | None = None,
    detach: bool = False,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
    wait_s: float = 300.0,
    python: str | None = None,
    allowed_roots: list[Path] | None = None,
) -> EngineRun:
    """Start ComfyUI with the pack loaded and return once ``/system_stats`` answers.

    ``port=None`` takes 8188 when free, else any free port; an explicit port that is taken raises EngineError.
    ``run_dir`` gives the engine its own input/output/user/temp folders (tests use a temporary one).
    ``cpu=None`` passes ``--cpu`` when torch sees no CUDA. A non-detached engine dies with this process.
    ``allowed_roots`` are added to the engine's ``$DGX_PIXELS_ALLOWED_ROOTS`` (where its nodes may write).
    Raises EngineError with the tail of the engine's log when it exits or is not healthy within ``wait_s``.
    """
    engine_dir = check_engine_dir(engine_dir) if engine_dir else find_engine_dir()
    link_pack(engine_dir)
    if port is None:
        port = DEFAULT_PORT if port_is_free(DEFAULT_PORT, host) else pick_free_port(host)
    elif not port_is_free(port, host):
        raise EngineError(f"port {port} on {host} is already in use; choose another with --port, "
                          f"or see `dgx-pixels engine status`")
    if cpu is None:
        cpu = not cuda_available()

    args = [python or os.environ.get("COMFYUI_PYTHON") or sys.executable, "main.py",
            "--listen", host, "--port", str(port), "--disable-auto-launch"]
    if cpu:
        args.append("--cpu")
    if run_dir is not None:
        run_dir = Path(run_dir)
        for sub in ("input", "output", "user", "temp"):
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
        args += ["--input-directory", str(run_dir / "input"), "--output-directory", str(run_dir / "output"),
                 "--user-directory", str(run_dir / "user"), "--temp-directory", str(run_dir / "temp"),
                 "--database-url", f"sqlite:///{run_dir / 'user' / 'comfyui.db'}"]
    args += extra_args or []

    if log_path is None and (detach or run_dir is not None):
        log_path = (run_dir if run_dir is not None else state_dir()) / f"engine-{port}.log"
    log_file = open(log_path, "ab") if log_path else None  # noqa: SIM115 (handed to the child)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if allowed_roots:
        # The variable export/paths.py reads; named here as a string so engine/ stays independent of export/.
        roots = [env.get("DGX_PIXELS_ALLOWED_ROOTS", ""), *(str(Path(root).resolve()) for root in allowed_roots)]
        env["DGX_PIXELS_ALLOWED_ROOTS"] = os.pathsep.join(root for root in roots if root)
    try:
        process = subprocess.Popen(
            args, cwd=engine_dir, env=env, stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT if log_file else None,
            start_new_session=True, preexec_fn=None if detach else _die_with_parent,
        )
    finally:
        if log_file:
            log_file.close()

    url = f"http://{host}:{port}"
    run = EngineRun(url=url, port=port, pid=process.pid, engine_dir=str(engine_dir),
                    log_path=str(log_path) if log_path else None, process=process)
    try:
        _wait_healthy(run, wait_s, expected_argv=args[1:])
    except BaseException:
        run.stop(timeout_s=5)
        raise
    if detach:
        (state_dir() / f"engine-{port}.json").write_text(json.dumps(run.record(), indent=2))
    return run


def _wait_healthy(run: EngineRun, wait_s: float, expected_argv: list[str]) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        code = run.process.poll() if run.process else None
        if code is not None:
            raise EngineError(f"the engine exited with code {code} while starting"
                              + (f"; last lines of {run.log_path}:\n{log_tail(run.log_path)}" if run.log_path else ""))
        stats = http_json(f"{run.url}/system_stats")
        if stats is not None:
            # Another engine may have grabbed the port first; only an engine started with our arguments counts.
            if stats.get("system", {}).get("argv") == expected_argv:
                return
            raise EngineError(f"another engine answers on {run.url} (started with "
                              f"{' '.join(stats.get('system', {}).get('argv', []))}); choose another port")
        time.sleep(0.5)
    raise EngineError(f"the engine did not answer on {run.url} within {wait_s:.0f} s"
                      + (f"; last lines of {run.log_path}:\n{log_tail(run.log_path)}" if run.log_path else ""))


def detached_engines() -> list[EngineRun]:
    """Return the detached engines recorded in the state folder, dropping records of dead ones."""
    runs = []
    for pidfile in sorted(state_dir().glob("engine-*.json")):
        try:
            data = json.loads(pidfile.read_text())
            run = EngineRun(**data)
        except (OSError, ValueError, TypeError):
            pidfile.unlink(missing_ok=True)
            continue
        if run.alive():
            runs.append(run)
        else:
            pidfile.unlink(missing_ok=True)
    return runs


def stop_detached(port: int | None = None) -> list[EngineRun]:
    """Stop the detached engine on ``port`` (or all of them when None); return those stopped.

    Raises EngineError when a port is given and no engine of ours runs there.
    """
    runs = [run for run in detached_engines() if port is None or run.port == port]
    if port is not None and not runs:
        raise EngineError(f"no detached DGX-Pixels engine on port {port}; `dgx-pixels engine status` lists them")
    for run in runs:
        run.stop()
    return runs
