"""Deprecated alias kept so MCP client configs written for 0.1 still start: ``python -m
dgx_pixels.mcp_bridge.bridge_cli mcp ...`` runs ``python -m dgx_pixels.cli.bridge mcp ...``.

The one import of cli/ from this room (an import-linter exception in pyproject.toml); remove it in 0.3.
"""

import sys

from ..cli.bridge import main

if __name__ == "__main__":
    DEPRECATION = "dgx-pixels: dgx_pixels.mcp_bridge.bridge_cli is deprecated; launch `python -m dgx_pixels.cli.bridge`"
    print(DEPRECATION, file=sys.stderr, flush=True)  # noqa: T201 (stderr: stdout may carry the MCP stream)
    sys.exit(main())
