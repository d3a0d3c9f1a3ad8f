"""Nodes that resize pixel art without ever blending pixels."""

from comfy_api.latest import io

from ..host.memory import image_bytes, require_node_memory
from ..ops.scale import scale_nearest_integer


class UpscaleInteger(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.UpscaleInteger",
            display_name="Upscale Pixel Art (Integer)",
            category="DGX-Pixels/scale",
            description="Repeats every pixel N×N times, so pixel art stays crisp at any integer zoom.",
            inputs=[
                io.Image.Input("image", tooltip="Pixel art to enlarge (any batch size)."),
                io.Int.Input("factor", default=4, min=1, max=64, tooltip="Each pixel becomes factor×factor pixels."),
                io.Mask.Input("mask", optional=True, tooltip="Optional alpha mask, enlarged the same way."),
            ],
            outputs=[io.Image.Output("scaled_image", display_name="image"),
                     io.Mask.Output("scaled_mask", display_name="mask")],
        )

    @classmethod
    def execute(cls, image, factor, mask=None) -> io.NodeOutput:
        if image.dim() == 4:
            b, h, w, c = image.shape
            # The scaled image and its mask (one channel more).
            require_node_memory(image_bytes(b, h * factor, w * factor, c + 1),
                                f"enlarging {b} image(s) of {w}x{h} by {factor}", "factor (or enlarge fewer frames)")
        scaled = scale_nearest_integer(image, factor)
        if mask is None:
            scaled_mask = scaled.new_zeros(scaled.shape[:3])
        else:
            scaled_mask = scale_nearest_integer(mask if mask.dim() == 3 else mask.unsqueeze(0), factor)
        return io.NodeOutput(scaled, scaled_mask)


NODES = [UpscaleInteger]
