"""What every ``dgx-pixels`` command shares: exit codes, output lines, the --engine option, the progress bar, and the
mapping of engine-client errors to one line and an exit code.

Exit codes (submit, status, cancel, generate, compare): 0 done, 1 a node failed, 2 invalid workflow or parameters
(nothing was run), 3 no engine answered, 4 still pending/running (a timeout keeps the job id), 5 interrupted or
cancelled, 6 the engine does not know the job (lost or never submitted). Every command: 2 a user error (a bad
argument, a missing or unreadable file, an output that cannot be written), 70 a bug in dgx-pixels (rerun with
--debug for the traceback), 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

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
from ..engine.local import EngineError
from ..engine.params import ParameterError

EXIT_DONE, EXIT_FAILED, EXIT_INVALID, EXIT_UNREACHABLE, EXIT_RUNNING, EXIT_INTERRUPTED, EXIT_UNKNOWN = range(7)
EXIT_OF_STATE = {DONE: EXIT_DONE, FAILED: EXIT_FAILED, INTERRUPTED: EXIT_INTERRUPTED, PENDING: EXIT_RUNNING,
                 RUNNING: EXIT_RUNNING, UNKNOWN: EXIT_UNKNOWN}
EXIT_BUG = 70  # sysexits' EX_SOFTWARE: not the user's fault
EXIT_CTRL_C = 130


def say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 (the CLI's output)


def err(text: str) -> None:
    print(f"dgx-pixels: {text}", file=sys.stderr, flush=True)  # noqa: T201


def fail(text: str, code: int = 1) -> int:
    """Print ``text`` as an error line and return ``code`` (for ``return fail(...)``)."""
    err(text)
    return code


def port_number(text: str) -> int:
    """argparse type: return ``text`` as a TCP port; raise ArgumentTypeError unless it is a whole number 1..65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def engine_url(text: str) -> str:
    """argparse type: return ``text`` when it is an http(s) URL with a host (and a valid port, if any); raise
    ArgumentTypeError otherwise, so a typo is named here instead of deep inside the HTTP client."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (parsing the port is the check: it raises ValueError when out of range)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an engine URL; expected e.g. http://127.0.0.1:8188")
    return text


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one ``dgx-pixels:`` line (no usage block), like every other error of the
    command; its subcommands' parsers are of this class too (argparse makes them with the parent's class)."""

    def error(self, message: str) -> NoReturn:
        """Print one line naming the command, the problem and where the options are listed; raise SystemExit(2)."""
        command = self.prog.removeprefix("dgx-pixels").strip()
        where = f"{command}: " if command else ""
        err(f"{where}{' '.join(message.split())} (`{self.prog} --help` lists the options)")
        sys.exit(EXIT_INVALID)


def engines_of(args: argparse.Namespace) -> list[str]:
    """Return the engine URLs of ``args`` (else of $DGX_PIXELS_ENGINE); raise ValueError naming a malformed one."""
    if args.engine:
        return args.engine  # checked by engine_url when parsed
    urls = default_engines()
    for url in urls:
        try:
            engine_url(url)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"$DGX_PIXELS_ENGINE: {exc}") from None
    return urls


def _probe_writable(folder: Path) -> None:
    """Raise OSError unless a file can be created in ``folder`` (os.access says yes to root even on read-only
    mounts and sysfs, so the probe is a real file)."""
    with tempfile.TemporaryFile(dir=folder):
        pass


def writable_dir(path: Path | str, option: str = "--out") -> Path:
    """Return ``path`` as a folder that exists (created if missing) and takes new files; raise ValueError naming
    ``option`` when it is a file, cannot be created, or is read-only."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe_writable(path)
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def _check_creatable(folder: Path, option: str, path: Path) -> None:
    """Raise ValueError naming ``option`` and ``path`` unless ``folder`` exists and takes files, or its nearest
    existing parent does (so the missing folders could be created)."""
    folder = folder.absolute()
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: {folder} is a file, not a folder")
    try:
        _probe_writable(folder)
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc})") from None


def check_out_dir(path: Path | str, option: str = "--out") -> None:
    """Return None when ``path`` is, or could be created as, a folder that takes files; raise ValueError naming
    ``option`` otherwise. Creates nothing, so it can run before slow work (reading inputs, asking the engine)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: is a file, not a folder")
    _check_creatable(path, option, path)


def check_writable_file(path: Path | str, option: str = "--out") -> None:
    """Return None when a file can be written at ``path`` (its folder exists or can be created, and takes files);
    raise ValueError naming ``option`` otherwise. Creates nothing, so it can run before long work."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder; give a file name")
    _check_creatable(path.parent, option, path)
    if path.exists():
        try:
            with open(path, "ab"):  # append mode: opens for writing without changing the file
                pass
        except OSError as exc:
            raise ValueError(f"{option} {path}: cannot write it ({exc.strerror or exc})") from None


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", action="append", default=None, type=engine_url, metavar="URL",
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


def report_client_error(exc: ParameterError | EngineClientError) -> int:
    """Print the line of an engine-client (or parameter) error and return its exit code."""
    if isinstance(exc, (ParameterError, PromptValidationError)):
        return fail(f"nothing was run: {exc}", EXIT_INVALID)
    if isinstance(exc, ExecutionInterrupted):
        return fail(str(exc), EXIT_INTERRUPTED)
    if isinstance(exc, PromptTimeout):
        return fail(f"{exc}; check it with `dgx-pixels status {exc.prompt_id}`", EXIT_RUNNING)
    if isinstance(exc, JobLost):
        return fail(str(exc), EXIT_UNKNOWN)
    if isinstance(exc, EngineUnreachable):
        return fail(f"{exc} (start one with `dgx-pixels engine start`, or pass --engine URL)", EXIT_UNREACHABLE)
    return fail(str(exc), EXIT_FAILED)  # ExecutionFailed and the rest


def run_mapped(coro) -> int:
    """Run a command coroutine and return its exit code; turn each client error into its message and exit code
    (other exceptions propagate to ``run_command``)."""
    try:
        return asyncio.run(coro)
    except (ParameterError, EngineClientError) as exc:
        return report_client_error(exc)


def describe_error(exc: BaseException) -> str:
    """Return one line saying what went wrong in ``exc`` (an OSError names its file and the system's reason)."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [os.fsdecode(n) if isinstance(n, bytes) else str(n) for n in (exc.filename, exc.filename2)
                 if n is not None]
        text = f"{' -> '.join(names)}: {exc.strerror}" if names else exc.strerror
    elif isinstance(exc, MemoryError):
        text = "not enough memory for this; use fewer or smaller images"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line: a message with newlines would read as several errors


def _is_user_error(exc: BaseException) -> bool:
    """Return whether ``exc`` is a failure the user can fix (bad input, files, the engine) rather than a bug."""
    if isinstance(exc, (ValueError, OSError, MemoryError, EngineError)):
        return True
    pil = sys.modules.get("PIL.Image")  # never imported: the exception cannot be PIL's
    return pil is not None and isinstance(exc, pil.DecompressionBombError)


def add_debug_option(parser: argparse.ArgumentParser, *, top: bool = True) -> None:
    """Add ``--debug`` to ``parser`` and to each of its subcommands (so it may come before or after the command)."""
    # Below the top, SUPPRESS keeps a subcommand's default from overwriting a --debug given before the command.
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="show the Python traceback of an error")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                add_debug_option(sub, top=False)


def run_command(args: argparse.Namespace) -> int:
    """Run ``args.func(args)`` and return its exit code. A user error prints one ``dgx-pixels:`` line (exit 2, or
    the engine-client code), any other exception one line calling it a bug (exit 70); with ``args.debug`` both
    raise instead, for the traceback."""
    debug = getattr(args, "debug", False)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_CTRL_C)
    except (ParameterError, EngineClientError) as exc:  # outside run_mapped, e.g. raised before the coroutine ran
        if debug:
            raise
        return report_client_error(exc)
    except EngineError as exc:
        if debug:
            raise
        # Not squeezed into one line: when the engine fails to start, the message ends with its log's last lines.
        return fail(str(exc), EXIT_INVALID)
    except Exception as exc:
        if debug:
            raise
        if _is_user_error(exc):
            return fail(describe_error(exc), EXIT_INVALID)
        return fail(f"internal error, a bug in dgx-pixels: {type(exc).__name__}: {describe_error(exc)} "
                    "(rerun with --debug for the traceback and report it)", EXIT_BUG)


def use_surrogate_escapes() -> None:
    """Let stdout print file names that are not valid UTF-8: their original bytes are written back (as the shell
    gave them) instead of raising UnicodeEncodeError after the work is done; stderr, read by people, escapes them
    with backslashes as Python's own stderr does."""
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        reconfigure = getattr(stream, "reconfigure", None)  # absent on some stand-ins for the streams
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors=errors)
