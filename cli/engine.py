"""``dgx-pixels engine start|stop|status|path`` (a local ComfyUI with the pack loaded) and ``dgx-pixels doctor``."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import signal
from pathlib import Path

from ..engine.local import (
    DEFAULT_HOST,
    PINNED_ENGINE_VERSION,
    EngineError,
    detached_engines,
    engine_version,
    find_engine_dir,
    http_ok,
    start_engine,
    stop_detached,
)
from .common import engine_url, fail, port_number, say

def cmd_engine_start(args: argparse.Namespace) -> int:
    cpu = True if args.cpu else None
    run = start_engine(port=args.port, host=args.host, cpu=cpu, detach=args.detach,
                       allowed_roots=[Path(root) for root in args.allowed_root or []],
                       run_dir=Path(args.run_dir) if args.run_dir else None)
    if args.detach:
        say(f"engine running at {run.url} (pid {run.pid}); log: {run.log_path}")
        say(f"stop it with: dgx-pixels engine stop --port {run.port}")
        return 0
    say(f"engine running at {run.url} (pid {run.pid}); open it in a browser. Ctrl-C stops it.")
    # SIGTERM to us should stop the engine as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        code = run.process.wait()
    except KeyboardInterrupt:
        say("stopping the engine")
        run.stop()
        return 0
    return fail(f"the engine exited with code {code}") if code else 0


def cmd_engine_stop(args: argparse.Namespace) -> int:
    stopped = stop_detached(args.port)
    if not stopped:
        say("no detached engine was running")
    for run in stopped:
        say(f"stopped the engine on port {run.port} (pid {run.pid})")
    return 0


def cmd_engine_status(args: argparse.Namespace) -> int:
    runs = detached_engines()
    if not runs:
        say("no detached DGX-Pixels engine is running")
    for run in runs:
        health = "healthy" if http_ok(f"{run.url}/system_stats") else "not answering"
        say(f"{run.url}  pid {run.pid}  {health}  engine {run.engine_dir}  log {run.log_path}")
    return 0


def cmd_engine_path(args: argparse.Namespace) -> int:
    say(str(find_engine_dir()))
    return 0


REQUIRED_MODULES = {
    "torch": "torch", "safetensors": "safetensors", "peft": "peft", "numpy": "numpy", "PIL": "pillow",
    "aiohttp": "aiohttp", "fastmcp": "fastmcp", "prometheus_client": "prometheus-client",
    "pynvml": "nvidia-ml-py",
}


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def gpu_report() -> list[str]:
    """Return lines describing the GPUs as torch and NVML see them (each probe independent of the other)."""
    lines = []
    try:
        import torch

        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                lines.append(f"torch: cuda:{index} {props.name}, {props.total_memory / 2**30:.1f} GiB")
        else:
            lines.append(f"torch: no CUDA device (torch {torch.__version__}); the engine will run with --cpu")
    except ImportError:
        lines.append("torch: not installed")
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            count = pynvml.nvmlDeviceGetCount()
            lines.append(f"NVML: driver {pynvml.nvmlSystemGetDriverVersion()}, {count} device(s)")
            for index in range(count):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                try:
                    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
                    mem = f"{memory.total / 2**30:.1f} GiB"
                except pynvml.NVMLError as exc:
                    mem = f"memory not reported ({exc}; unified memory, e.g. GB10)"
                lines.append(f"NVML: gpu {index} {pynvml.nvmlDeviceGetName(handle)}, {mem}")
        finally:
            pynvml.nvmlShutdown()
    except ImportError:
        lines.append("NVML: nvidia-ml-py not installed")
    except Exception as exc:  # NVMLError_LibraryNotFound and friends on machines without a driver
        lines.append(f"NVML: unavailable ({exc})")
    return lines


def cmd_doctor(args: argparse.Namespace) -> int:
    from .. import __version__

    problems = []
    say(f"DGX-Pixels {__version__} on Python {platform.python_version()} ({platform.machine()}, {platform.system()})")
    for module, distribution in REQUIRED_MODULES.items():
        version = _version_of(distribution)
        if version is None:
            try:
                importlib.import_module(module)
                version = "installed"
            except ImportError:
                problems.append(f"missing Python package {distribution} (pip install {distribution})")
                version = "MISSING"
        say(f"  {distribution:18} {version}")
    for line in gpu_report():
        say(f"  {line}")
    try:
        engine_dir = find_engine_dir()
        version = engine_version(engine_dir)
        note = "" if version == PINNED_ENGINE_VERSION else f" (tested with {PINNED_ENGINE_VERSION})"
        say(f"  engine: ComfyUI {version or 'unknown version'} at {engine_dir}{note}")
        link = engine_dir / "custom_nodes" / "dgx_pixels"
        if not link.exists() and engine_dir.resolve() != Path(__file__).resolve().parents[2]:
            problems.append(f"the pack is not linked into {engine_dir / 'custom_nodes'} "
                            "(`dgx-pixels engine start` links it)")
        checkpoints = sorted(p.name for p in (engine_dir / "models" / "checkpoints").glob("*.safetensors"))
        say(f"  checkpoints: {', '.join(checkpoints) or 'none'}")
    except EngineError as exc:
        problems.append(str(exc))
    url = args.engine
    reachable = http_ok(f"{url}/system_stats")
    say(f"  engine at {url}: {'reachable' if reachable else 'not reachable'}")
    if not reachable:
        running = [run.url for run in detached_engines()]
        say("  start one with `dgx-pixels engine start --detach`" + (f"; running: {', '.join(running)}"
                                                                      if running else ""))
    if problems:
        say("\nWhat is missing:")
        for problem in problems:
            say(f"  - {problem}")
        return 1
    say("\nNothing is missing.")
    return 0


def add_engine_parsers(commands) -> None:
    engine = commands.add_parser("engine", help="run the local ComfyUI engine with the pack loaded")
    engine_commands = engine.add_subparsers(dest="engine_command", required=True)
    start = engine_commands.add_parser("start", help="start the engine (foreground unless --detach)")
    start.add_argument("--port", type=port_number, default=None, help="port (default 8188, or a free one if that is taken)")
    start.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default 127.0.0.1)")
    start.add_argument("--detach", action="store_true", help="run in the background; stop with `engine stop`")
    start.add_argument("--cpu", action="store_true", help="force CPU even when CUDA is available")
    start.add_argument("--run-dir", default=None, help="use this folder for input/output/user/temp")
    start.add_argument("--allowed-root", action="append", default=None, metavar="DIR",
                       help="a folder the pack's nodes may write into besides the output folder, e.g. your Bevy "
                            "games (repeatable; added to $DGX_PIXELS_ALLOWED_ROOTS)")
    start.set_defaults(func=cmd_engine_start)
    stop = engine_commands.add_parser("stop", help="stop detached engines")
    stop.add_argument("--port", type=port_number, default=None, help="only the engine on this port")
    stop.set_defaults(func=cmd_engine_stop)
    engine_commands.add_parser("status", help="list detached engines").set_defaults(func=cmd_engine_status)
    engine_commands.add_parser("path", help="print the engine's folder").set_defaults(func=cmd_engine_path)

    doctor = commands.add_parser("doctor", help="check versions, GPU/NVML, the engine and what is missing")
    doctor.add_argument("--engine", type=engine_url,
                        default=os.environ.get("DGX_PIXELS_ENGINE", "http://127.0.0.1:8188"),
                        help="engine URL to check")
    doctor.set_defaults(func=cmd_doctor)
