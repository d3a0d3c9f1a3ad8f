"""``dgx-pixels mcp``: run the MCP server (stdio for desktop clients, streamable HTTP for agents)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .common import EXIT_INVALID, add_engine_option, engines_of, err

def cmd_mcp(args: argparse.Namespace) -> int:
    from ..mcp_bridge.server import serve

    try:
        serve(engines_of(args), transport=args.transport, host=args.host, port=args.port,
              token=args.token or os.environ.get("DGX_PIXELS_MCP_TOKEN"),
              results_dir=Path(args.results) if args.results else None, default_wait_s=args.wait,
              project_roots=[Path(root) for root in args.project_root or []],
              workflow_dirs=[Path(folder) for folder in args.workflows or []],
              progress_interval_s=args.progress_interval)
    except ValueError as exc:
        err(str(exc))
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
    add_engine_option(mcp)
    mcp.set_defaults(func=cmd_mcp)

