"""``dgx-pixels metrics-exporter``: serve Prometheus metrics of an engine the pack is not loaded into."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from .common import engine_url, port_number

def cmd_metrics_exporter(args: argparse.Namespace) -> int:
    from ..metrics.exporter import serve

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(f"dgx-pixels: exporting {args.engine} on http://{args.host}:{args.port}/metrics "  # noqa: T201
          f"(every {args.interval:g} s; Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        asyncio.run(serve(args.engine, host=args.host, port=args.port, interval_s=args.interval))
    except OSError as exc:
        print(f"dgx-pixels: cannot listen on {args.host}:{args.port}: {exc}; "  # noqa: T201
              "choose another --port", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


def add_metrics_exporter_parser(subparsers) -> None:
    """Register the ``metrics-exporter`` subcommand on the dgx-pixels CLI."""
    parser = subparsers.add_parser("metrics-exporter",
                                   help="serve Prometheus metrics of a remote engine (polls its HTTP API)")
    parser.add_argument("--engine", type=engine_url,
                        default=os.environ.get("DGX_PIXELS_ENGINE", "http://127.0.0.1:8188"),
                        help="engine URL to poll")
    parser.add_argument("--port", type=port_number, default=9188, help="port of the exporter's /metrics")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback by default)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between polls of the engine")
    parser.set_defaults(func=cmd_metrics_exporter)
