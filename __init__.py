"""DGX-Pixels: a ComfyUI node pack for game-ready pixel art.

ComfyUI imports this folder from ``custom_nodes/``; installed with pip it is the package ``dgx_pixels``.
Nothing here imports ComfyUI at module level, so the CLI, the MCP bridge and the unit tests can import the
package on machines without the engine (or without CUDA).
"""

from ._version import __version__

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    """Called by ComfyUI's loader: returns the extension that lists our V3 nodes."""
    from .nodes import DGXPixelsExtension

    try:
        from .metrics.hook import install

        install()
    except Exception:  # metrics are optional: a hook failure must never keep the nodes from loading
        import logging

        logging.getLogger(__name__).warning("DGX-Pixels: metrics hook not installed", exc_info=True)
    return DGXPixelsExtension()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint", "__version__"]
