"""What every ``dgx-pixels`` command shares: exit codes, output lines, the --engine option, the progress bar, and the
mapping of engine-client errors to one line and an exit code.

Exit codes (submit, status, cancel, generate, compare): 0 done, 1 a node failed, 2 invalid workflow or parameters
(nothing was run), 3 no engine answered, 4 still pending/running (a timeout keeps the job id), 5 interrupted or
cancelled, 6 the engine does not know the job (lost or never submitted).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..engine.client import (
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    UNKNOWN,
    EngineClientError,
    EngineUnreachable,
    ExecutionInterrupted,
    JobLost,
    PromptTimeout,
    PromptValidationError,
    default_engines,
)
from ..engine.params import ParameterError

EXIT_DONE, EXIT_FAILED, EXIT_INVALID, EXIT_UNREACHABLE, EXIT_RUNNING, EXIT_INTERRUPTED, EXIT_UNKNOWN = range(7)
EXIT_OF_STATE = {DONE: EXIT_DONE, FAILED: EXIT_FAILED, INTERRUPTED: EXIT_INTERRUPTED, PENDING: EXIT_RUNNING,
                 RUNNING: EXIT_RUNNING, UNKNOWN: EXIT_UNKNOWN}


def say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 (the CLI's output)


def err(text: str) -> None:
    print(f"dgx-pixels: {text}", file=sys.stderr, flush=True)  # noqa: T201


def fail(text: str, code: int = 1) -> int:
    """Print ``text`` as an error line and return ``code`` (for ``return fail(...)``)."""
    err(text)
    return code


def engines_of(args: argparse.Namespace) -> list[str]:
    return args.engine or default_engines()


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", action="append", default=None, metavar="URL",
                        help="engine URL; repeat for several (the least loaded is used). "
                             "Default: $DGX_PIXELS_ENGINE (comma-separated), else http://127.0.0.1:8188")


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


def run_mapped(coro) -> int:
    """Run a command coroutine; turn each client error into its message and exit code."""
    try:
        return asyncio.run(coro)
    except (ParameterError, PromptValidationError) as exc:
        err(f"nothing was run: {exc}")
        return EXIT_INVALID
    except ExecutionInterrupted as exc:
        err(str(exc))
        return EXIT_INTERRUPTED
    except PromptTimeout as exc:
        err(f"{exc}; check it with `dgx-pixels status {exc.prompt_id}`")
        return EXIT_RUNNING
    except JobLost as exc:
        err(str(exc))
        return EXIT_UNKNOWN
    except EngineUnreachable as exc:
        err(f"{exc} (start one with `dgx-pixels engine start`, or pass --engine URL)")
        return EXIT_UNREACHABLE
    except EngineClientError as exc:  # ExecutionFailed and the rest
        err(str(exc))
        return EXIT_FAILED
