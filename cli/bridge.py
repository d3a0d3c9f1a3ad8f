"""The light entry point of the bridge commands: ``python -m dgx_pixels.cli.bridge mcp|submit|status|cancel`` takes
the same arguments as ``dgx-pixels`` but loads no torch, so an MCP client starts the stdio server in a fraction of
the time."""

from __future__ import annotations

import argparse
import sys

from .common import err
from .jobs import add_job_parsers, add_submit_parser
from .mcp import add_mcp_parser


def build_parser() -> argparse.ArgumentParser:
    """Return a parser of the bridge commands only (mcp, submit, status, cancel)."""
    parser = argparse.ArgumentParser(prog="dgx-pixels", description="DGX-Pixels MCP bridge and job submission.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_mcp_parser(commands)
    add_submit_parser(commands)
    add_job_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one bridge command and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
