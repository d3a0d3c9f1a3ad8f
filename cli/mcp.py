"""``dgx-pixels mcp``: run the MCP server (stdio for desktop clients, streamable HTTP for agents)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..export.paths import configured_roots
from .common import EXIT_INVALID, add_engine_option, engines_of, err, port_number

HOSTS_ENV = "DGX_PIXELS_MCP_ALLOWED_HOSTS"
ORIGINS_ENV = "DGX_PIXELS_MCP_ALLOWED_ORIGINS"


def listed(values: list[str] | None, env: str) -> list[str]:
    """The option's values, or else the comma-separated entries of the environment variable ``env``."""
    if values:
        return values
    return [entry.strip() for entry in os.environ.get(env, "").split(",") if entry.strip()]


def cmd_mcp(args: argparse.Namespace) -> int:
    from ..mcp_bridge.server import serve

    try:
        serve(engines_of(args), transport=args.transport, host=args.host, port=args.port,
              token=args.token or os.environ.get("DGX_PIXELS_MCP_TOKEN"),
              results_dir=Path(args.results) if args.results else None, default_wait_s=args.wait,
              project_roots=[*(Path(root) for root in args.project_root or []), *configured_roots()],
              workflow_dirs=[Path(folder) for folder in args.workflows or []],
              progress_interval_s=args.progress_interval,
              allowed_hosts=listed(args.allowed_host, HOSTS_ENV),
              allowed_origins=listed(args.allowed_origin, ORIGINS_ENV))
    except ValueError as exc:
        err(str(exc))
        return EXIT_INVALID
    return 0


def add_mcp_parser(commands) -> None:
    mcp = commands.add_parser("mcp", help="run the MCP server (tools that generate sprites through the engine)")
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    mcp.add_argument("--host", default="127.0.0.1",
                     help="HTTP address (default 127.0.0.1; others need a token, see --token)")
    mcp.add_argument("--port", type=port_number, default=8765, help="HTTP port (default 8765; endpoint /mcp)")
    mcp.add_argument("--token", default=None,
                     help="bearer token HTTP clients must send (default $DGX_PIXELS_MCP_TOKEN; bound beyond "
                          "loopback without one, the server makes one up and prints it to stderr)")
    mcp.add_argument("--allowed-host", action="append", default=None, metavar="NAME[:PORT]",
                     help="a Host name HTTP clients may use besides 127.0.0.1, localhost and [::1] on --port "
                          "(repeatable; no port: any; default: the comma-separated $DGX_PIXELS_MCP_ALLOWED_HOSTS); "
                          "requests naming another host get 403 (DNS rebinding)")
    mcp.add_argument("--allowed-origin", action="append", default=None, metavar="URL",
                     help="a browser Origin (http(s)://HOST[:PORT]) allowed besides those on an allowed host "
                          "(repeatable; default: the comma-separated $DGX_PIXELS_MCP_ALLOWED_ORIGINS)")
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
                     help="a folder deploy_to_bevy may write under (repeatable; added to $DGX_PIXELS_ALLOWED_ROOTS; without "
                          "any, deploying is refused)")
    add_engine_option(mcp)
    mcp.set_defaults(func=cmd_mcp)

