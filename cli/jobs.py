"""``dgx-pixels submit | status | cancel``: headless submission of any workflow from scripts, and its jobs.

Exit codes: see ``cli.common``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..engine.client import (
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    UNKNOWN,
    EngineClient,
    EngineClientError,
    EngineUnreachable,
    least_loaded,
)
from ..engine.local import state_dir
from ..engine.params import BUNDLED_DIR, ParameterError, Workflow, find_workflow, is_api_format, load_workflow, prepare
from ..export.files import write_file_atomic
from .common import (
    EXIT_DONE,
    EXIT_INTERRUPTED,
    EXIT_OF_STATE,
    EXIT_RUNNING,
    ProgressBar,
    add_engine_option,
    check_out_dir,
    engines_of,
    run_mapped,
    say,
)


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
    from ..engine.ui_to_api import UIConversionError, ui_to_api

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


async def _submit(args: argparse.Namespace) -> int:
    from ..engine.params import parse_assignments

    values = parse_assignments(args.set or [])
    if args.out:
        try:
            check_out_dir(args.out)  # before the engine works: its outputs would be left on the engine only
        except ValueError as exc:
            raise ParameterError([str(exc)]) from None
    url = await least_loaded(engines_of(args))
    async with EngineClient(url) as client:
        needs_info = _is_ui_file(Path(args.workflow))
        workflow = load_any_workflow(args.workflow, await client.object_info() if needs_info else None)
        prompt = await prepare(client, workflow, values)
        submission = await client.submit(prompt)
        say(f"job {submission.prompt_id} queued on {url}")
        if args.no_wait:
            await submission.ws.close()
            return EXIT_RUNNING
        with ProgressBar() as bar:
            result = await client.wait(submission.prompt_id, timeout_s=args.timeout, on_progress=bar,
                                       node_ids=list(prompt), client_id=submission.client_id, ws=submission.ws)
        files = result.files()
        note = " (served from the engine's cache)" if result.from_cache else ""
        say(f"job {result.prompt_id} done: {len(files)} file(s){note}")
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            for file in files:
                target = out / Path(file.filename).name
                write_file_atomic(target, await client.download(file))
                say(f"wrote {target}")
        else:
            for file in files:
                say(f"output {file.subfolder + '/' if file.subfolder else ''}{file.filename}")
    return EXIT_DONE


def cmd_submit(args: argparse.Namespace) -> int:
    return run_mapped(_submit(args))


def add_submit_parser(commands) -> None:
    submit = commands.add_parser("submit", help="run a workflow (bundled name, API or UI JSON) and fetch its outputs")
    submit.add_argument("workflow", help="a bundled workflow name (e.g. txt2img_basic) or a workflow .json file")
    submit.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="set a parameter (manifest name, or NODE_ID.INPUT for workflows without one)")
    submit.add_argument("--out", default=None, help="download the outputs into this folder")
    submit.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (the job id is kept)")
    submit.add_argument("--no-wait", action="store_true", help="queue, print the job id and exit with code 4")
    add_engine_option(submit)
    submit.set_defaults(func=cmd_submit)


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
    url, state = await _find(args.job, engines_of(args))
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
    elif state == UNKNOWN and args.job in _cancelled_while_pending():
        state = INTERRUPTED
        line = f"job {args.job}: {state} (cancelled by dgx-pixels cancel before it started; the engine keeps no record)"
    elif state == UNKNOWN:
        line += " (no engine has it queued or in its history)"
    say(line)
    return EXIT_OF_STATE[state]


def cmd_status(args: argparse.Namespace) -> int:
    return run_mapped(_status(args))


async def _cancel(args: argparse.Namespace) -> int:
    url, state = await _find(args.job, engines_of(args))
    if state in (PENDING, RUNNING):
        async with EngineClient(url) as client:
            state = await client.cancel(args.job)
        if state == PENDING:
            # The engine deletes a pending prompt without any history entry: remember the cancel, so a later
            # `status` (another process) answers interrupted rather than unknown.
            _remember_cancel(args.job)
            say(f"job {args.job}: cancelled (final state: interrupted): removed from the queue before it started")
        else:
            say(f"job {args.job}: cancelled (final state: interrupted): the running job was interrupted")
        return EXIT_INTERRUPTED
    say(f"job {args.job}: nothing to cancel, it is {state}")
    return EXIT_OF_STATE[state]


CANCELLED_RECORD = "cancelled-while-pending.json"
CANCELLED_KEPT = 1000  # the newest ids; enough for any script's jobs, small to read


def _cancelled_while_pending() -> list[str]:
    """Return the ids `dgx-pixels cancel` removed from a queue before they started (newest last)."""
    try:
        ids = json.loads((state_dir() / CANCELLED_RECORD).read_text())
    except (OSError, ValueError):
        return []
    return [str(job) for job in ids] if isinstance(ids, list) else []


def _remember_cancel(job_id: str) -> None:
    ids = [job for job in _cancelled_while_pending() if job != job_id] + [job_id]
    try:
        write_file_atomic(state_dir() / CANCELLED_RECORD, json.dumps(ids[-CANCELLED_KEPT:]).encode())
    except OSError:
        pass  # a read-only state folder costs only the nicer status answer later


def cmd_cancel(args: argparse.Namespace) -> int:
    return run_mapped(_cancel(args))


def add_job_parsers(commands) -> None:
    status = commands.add_parser("status", help="state of a submitted job (exit code: see dgx-pixels submit)")
    status.add_argument("job", help="the job id submit printed")
    add_engine_option(status)
    status.set_defaults(func=cmd_status)
    cancel = commands.add_parser("cancel", help="cancel a job (queue delete when pending, interrupt when running)")
    cancel.add_argument("job", help="the job id submit printed")
    add_engine_option(cancel)
    cancel.set_defaults(func=cmd_cancel)

