"""The ``dgx-pixels`` command: one parser gathering every command group (each in its own module of ``cli/``)."""

from __future__ import annotations

import argparse
import sys

from .bridge import add_bridge_parsers
from .common import CliParser, add_debug_option, run_command, use_surrogate_escapes
from .demo import add_demo_parser
from .engine import add_engine_parsers
from .generate import add_compare_parser, add_generate_parser
from .lora import add_train_lora_parser
from .metrics import add_metrics_exporter_parser
from .palette import add_palette_parsers
from .pixelize import add_pixelize_parser
from .sheet import add_deploy_parser, add_sheet_parser


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="dgx-pixels", description="DGX-Pixels: game-ready pixel art with ComfyUI.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_engine_parsers(commands)
    add_demo_parser(commands)
    add_bridge_parsers(commands)
    add_generate_parser(commands)
    add_compare_parser(commands)
    add_train_lora_parser(commands)
    add_pixelize_parser(commands)
    add_palette_parsers(commands)
    add_sheet_parser(commands)
    add_deploy_parser(commands)
    add_metrics_exporter_parser(commands)
    add_debug_option(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``dgx-pixels`` command and return its exit code (see ``cli.common``); a user error prints one
    ``dgx-pixels:`` line, never a traceback unless ``--debug`` is given. Raises SystemExit on bad arguments."""
    use_surrogate_escapes()
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
