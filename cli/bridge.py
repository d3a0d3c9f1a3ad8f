"""The light entry point of the bridge commands: ``python -m dgx_pixels.cli.bridge mcp|submit|status|cancel`` takes
the same arguments as ``dgx-pixels`` but loads no torch, so an MCP client starts the stdio server in a fraction of
the time."""

from __future__ import annotations

import argparse
import sys

from .common import CliParser, add_debug_option, run_command, use_surrogate_escapes
from .jobs import add_job_parsers, add_submit_parser
from .mcp import add_mcp_parser


def add_bridge_parsers(commands) -> None:
    """Add the commands that need no torch: mcp, submit, status, cancel."""
    add_mcp_parser(commands)
    add_submit_parser(commands)
    add_job_parsers(commands)


def build_parser() -> argparse.ArgumentParser:
    """Return a parser of the bridge commands only (mcp, submit, status, cancel)."""
    parser = CliParser(prog="dgx-pixels", description="DGX-Pixels MCP bridge and job submission.")
    add_bridge_parsers(parser.add_subparsers(dest="command", required=True))
    add_debug_option(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one bridge command and return its exit code (as ``dgx-pixels`` does: one line per user error, a
    traceback only with ``--debug``). Raises SystemExit on bad arguments."""
    use_surrogate_escapes()
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
