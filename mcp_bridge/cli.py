"""Deprecated alias kept for scripts written for 0.1: ``python -m dgx_pixels.mcp_bridge.cli ...`` runs
``python -m dgx_pixels.cli ...``.

The one import of cli/ from this room besides bridge_cli (an import-linter exception in pyproject.toml); remove it
in 0.3.
"""

import sys

from ..cli.main import main

if __name__ == "__main__":
    DEPRECATION = "dgx-pixels: dgx_pixels.mcp_bridge.cli is deprecated; use `dgx-pixels` or `python -m dgx_pixels.cli`"
    print(DEPRECATION, file=sys.stderr, flush=True)  # noqa: T201 (stderr: stdout may carry the MCP stream)
    sys.exit(main())
