"""V3 nodes of the pack. Each domain module exports ``NODES``; this module only gathers them."""

from comfy_api.latest import ComfyExtension, io

from . import aseprite, compare, lora, pixel, scale, sheets, tiling

NODE_MODULES = [scale, lora, tiling, sheets, aseprite, pixel, compare]


class DGXPixelsExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [node for module in NODE_MODULES for node in module.NODES]
