"""``dgx-pixels mcp | submit | status | cancel``: the MCP server and headless submission from scripts.

Exit codes (submit, status, cancel): 0 done, 1 a node failed, 2 invalid workflow or parameters (nothing was run),
3 no engine answered, 4 still pending/running (a timeout keeps the job id), 5 interrupted or cancelled, 6 the engine
does not know the job (lost or never submitted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from .client import (
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    UNKNOWN,
    EngineClient,
    EngineClientError,
    EngineUnreachable,
    ExecutionInterrupted,
    JobLost,
    PromptTimeout,
    PromptValidationError,
    default_engines,
    least_loaded,
)
from .params import BUNDLED_DIR, ParameterError, Workflow, find_workflow, is_api_format, load_workflow, prepare

EXIT_DONE, EXIT_FAILED, EXIT_INVALID, EXIT_UNREACHABLE, EXIT_RUNNING, EXIT_INTERRUPTED, EXIT_UNKNOWN = range(7)
EXIT_OF_STATE = {DONE: EXIT_DONE, FAILED: EXIT_FAILED, INTERRUPTED: EXIT_INTERRUPTED, PENDING: EXIT_RUNNING,
                 RUNNING: EXIT_RUNNING, UNKNOWN: EXIT_UNKNOWN}


def _say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 (the CLI's output)


def _err(text: str) -> None:
    print(f"dgx-pixels: {text}", file=sys.stderr, flush=True)  # noqa: T201


def _engines(args: argparse.Namespace) -> list[str]:
    return args.engine or default_engines()


def _add_engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", action="append", default=None, metavar="URL",
                        help="engine URL; repeat for several (the least loaded is used). "
                             "Default: $DGX_PIXELS_ENGINE (comma-separated), else http://127.0.0.1:8188")


# mcp --------------------------------------------------------------------------------------------------------


def cmd_mcp(args: argparse.Namespace) -> int:
    from .server import serve

    try:
        serve(_engines(args), transport=args.transport, host=args.host, port=args.port,
              token=args.token or os.environ.get("DGX_PIXELS_MCP_TOKEN"),
              results_dir=Path(args.results) if args.results else None, default_wait_s=args.wait,
              project_roots=[Path(root) for root in args.project_root or []],
              workflow_dirs=[Path(folder) for folder in args.workflows or []],
              progress_interval_s=args.progress_interval)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_INVALID
    return 0


def add_mcp_parser(commands) -> None:
    mcp = commands.add_parser("mcp", help="run the MCP server (tools that generate sprites through the engine)")
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    mcp.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1; others need --token)")
    mcp.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765; endpoint /mcp)")
    mcp.add_argument("--token", default=None,
                     help="bearer token HTTP clients must send (default $DGX_PIXELS_MCP_TOKEN)")
    mcp.add_argument("--results", default=None, help="folder for downloaded outputs (default: a temp folder)")
    mcp.add_argument("--wait", type=float, default=45.0,
                     help="seconds a tool waits before answering with a job id (default 45)")
    mcp.add_argument("--workflows", action="append", default=None, metavar="DIR",
                     help="a folder of your own NAME.api.json + NAME.params.json workflows (repeatable; searched "
                          "before the bundled ones)")
    mcp.add_argument("--progress-interval", type=float, default=0.25, metavar="SECONDS",
                     help="least time between progress notifications (default 0.25; 0 sends every change); a job "
                          "shorter than this gets none")
    mcp.add_argument("--project-root", action="append", default=None, metavar="DIR",
                     help="a folder deploy_to_bevy may write under (repeatable; without one, deploying is refused)")
    _add_engine_option(mcp)
    mcp.set_defaults(func=cmd_mcp)


# submit -----------------------------------------------------------------------------------------------------


def load_any_workflow(spec: str, object_info: dict | None) -> Workflow:
    """Return the workflow named by ``spec``: a bundled name, an API-format file (with its manifest, if any) or a
    UI-format file (converted with ``object_info``). Raises ParameterError."""
    path = Path(spec)
    if not path.exists():
        if "/" in spec or spec.endswith(".json"):
            raise ParameterError([f"{spec}: no such file"])
        return find_workflow(spec, [BUNDLED_DIR])
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ParameterError([f"{spec} is not JSON: {exc}"]) from None
    if is_api_format(data):
        return load_workflow(path)
    if isinstance(data, dict) and "prompt" in data and is_api_format(data["prompt"]):
        return Workflow(path.stem, data["prompt"], path=path)  # a saved POST /prompt body
    if object_info is None:
        raise ParameterError([f"{spec} is a UI-format workflow; converting it needs the engine's object_info"])
    from .ui_to_api import UIConversionError, ui_to_api

    try:
        return Workflow(path.stem, ui_to_api(data, object_info), path=path)
    except UIConversionError as exc:
        raise ParameterError([f"{spec}: {exc}"]) from None


def _is_ui_file(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False  # load_any_workflow reports it
    return not is_api_format(data) and not (isinstance(data, dict) and "prompt" in data)


class ProgressBar:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, width: int = 30):
        self.width = width
        self.last = -1
        self.tty = sys.stderr.isatty()

    def __call__(self, fraction: float, message: str) -> None:
        percent = int(fraction * 100)
        if self.tty:
            filled = int(fraction * self.width)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% {message[:40]:40}")
            sys.stderr.flush()
        elif percent >= self.last + 10 or percent == 100:
            self.last = percent
            print(f"progress {percent}% {message}", file=sys.stderr, flush=True)  # noqa: T201

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


async def _submit(args: argparse.Namespace) -> int:
    from .params import parse_assignments

    values = parse_assignments(args.set or [])
    url = await least_loaded(_engines(args))
    async with EngineClient(url) as client:
        needs_info = _is_ui_file(Path(args.workflow))
        workflow = load_any_workflow(args.workflow, await client.object_info() if needs_info else None)
        prompt = await prepare(client, workflow, values)
        submission = await client.submit(prompt)
        _say(f"job {submission.prompt_id} queued on {url}")
        if args.no_wait:
            await submission.ws.close()
            return EXIT_RUNNING
        with ProgressBar() as bar:
            result = await client.wait(submission.prompt_id, timeout_s=args.timeout, on_progress=bar,
                                       node_ids=list(prompt), client_id=submission.client_id, ws=submission.ws)
        files = result.files()
        note = " (served from the engine's cache)" if result.from_cache else ""
        _say(f"job {result.prompt_id} done: {len(files)} file(s){note}")
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            for file in files:
                target = out / Path(file.filename).name
                target.write_bytes(await client.download(file))
                _say(f"wrote {target}")
        else:
            for file in files:
                _say(f"output {file.subfolder + '/' if file.subfolder else ''}{file.filename}")
    return EXIT_DONE


def _run_mapped(coro) -> int:
    """Run a command coroutine; turn each client error into its message and exit code."""
    try:
        return asyncio.run(coro)
    except (ParameterError, PromptValidationError) as exc:
        _err(f"nothing was run: {exc}")
        return EXIT_INVALID
    except ExecutionInterrupted as exc:
        _err(str(exc))
        return EXIT_INTERRUPTED
    except PromptTimeout as exc:
        _err(f"{exc}; check it with `dgx-pixels status {exc.prompt_id}`")
        return EXIT_RUNNING
    except JobLost as exc:
        _err(str(exc))
        return EXIT_UNKNOWN
    except EngineUnreachable as exc:
        _err(f"{exc} (start one with `dgx-pixels engine start`, or pass --engine URL)")
        return EXIT_UNREACHABLE
    except EngineClientError as exc:  # ExecutionFailed and the rest
        _err(str(exc))
        return EXIT_FAILED


def cmd_submit(args: argparse.Namespace) -> int:
    return _run_mapped(_submit(args))


def add_submit_parser(commands) -> None:
    submit = commands.add_parser("submit", help="run a workflow (bundled name, API or UI JSON) and fetch its outputs")
    submit.add_argument("workflow", help="a bundled workflow name (e.g. txt2img_basic) or a workflow .json file")
    submit.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="set a parameter (manifest name, or NODE_ID.INPUT for workflows without one)")
    submit.add_argument("--out", default=None, help="download the outputs into this folder")
    submit.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (the job id is kept)")
    submit.add_argument("--no-wait", action="store_true", help="queue, print the job id and exit with code 4")
    _add_engine_option(submit)
    submit.set_defaults(func=cmd_submit)


# status, cancel ---------------------------------------------------------------------------------------------


async def _find(job_id: str, urls: list[str]) -> tuple[str, str]:
    """Return (engine url, state) of the first engine that knows ``job_id``; (first url, unknown) when none does."""
    answered = False
    for url in urls:
        try:
            async with EngineClient(url, request_timeout_s=10.0) as client:
                state = await client.job_state(job_id)
        except EngineUnreachable:
            continue
        answered = True
        if state != UNKNOWN:
            return url, state
    if not answered:
        raise EngineUnreachable(f"no engine answered: {', '.join(urls)}")
    return urls[0], UNKNOWN


async def _status(args: argparse.Namespace) -> int:
    url, state = await _find(args.job, _engines(args))
    line = f"job {args.job}: {state}"
    if state in (DONE, FAILED, INTERRUPTED):
        async with EngineClient(url) as client:
            try:
                result = await client.result(args.job)
                line += f" on {url}, {len(result.files())} file(s)"
                for file in result.files():
                    line += f"\n  output {file.subfolder + '/' if file.subfolder else ''}{file.filename}"
            except EngineClientError as exc:
                line += f": {exc}"
    elif state == UNKNOWN:
        line += " (no engine has it queued or in its history)"
    _say(line)
    return EXIT_OF_STATE[state]


def cmd_status(args: argparse.Namespace) -> int:
    return _run_mapped(_status(args))


async def _cancel(args: argparse.Namespace) -> int:
    url, state = await _find(args.job, _engines(args))
    if state in (PENDING, RUNNING):
        async with EngineClient(url) as client:
            await client.cancel(args.job)
        _say(f"job {args.job}: {'removed from the queue' if state == PENDING else 'interrupted'}")
        return EXIT_INTERRUPTED
    _say(f"job {args.job}: nothing to cancel, it is {state}")
    return EXIT_OF_STATE[state]


def cmd_cancel(args: argparse.Namespace) -> int:
    return _run_mapped(_cancel(args))


def add_job_parsers(commands) -> None:
    status = commands.add_parser("status", help="state of a submitted job (exit code: see dgx-pixels submit)")
    status.add_argument("job", help="the job id submit printed")
    _add_engine_option(status)
    status.set_defaults(func=cmd_status)
    cancel = commands.add_parser("cancel", help="cancel a job (queue delete when pending, interrupt when running)")
    cancel.add_argument("job", help="the job id submit printed")
    _add_engine_option(cancel)
    cancel.set_defaults(func=cmd_cancel)


def build_parser() -> argparse.ArgumentParser:
    """Return a parser of the bridge commands only (mcp, submit, status, cancel)."""
    parser = argparse.ArgumentParser(prog="dgx-pixels", description="DGX-Pixels MCP bridge and job submission.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_mcp_parser(commands)
    add_submit_parser(commands)
    add_job_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one bridge command and return its exit code.

    ``python -m dgx_pixels.mcp_bridge.bridge_cli`` takes the same arguments as ``dgx-pixels mcp|submit|status|cancel``
    but loads no torch, so an MCP client starts the stdio server in a fraction of the time.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
