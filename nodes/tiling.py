"""Seamless tiles: wrap-around model patch and a 3×3 preview that measures the seam."""

from __future__ import annotations

from comfy.patcher_extension import WrappersMP
from comfy_api.latest import io, ui

from ..host.memory import image_bytes, require_node_memory
from ..ops.tiling import AXES, circular_padding, measure_seams, tile_preview

WRAPPER_KEY = "dgx_pixels.seamless_tiling"
AXIS_TOOLTIP = "Which edges wrap around: x (left↔right), y (top↔bottom) or both."


class SeamlessVAE:
    """A VAE whose encode/decode run with wrap-around convolutions; everything else is the wrapped VAE's.

    The wrapped VAE object and its weights are shared and never changed: the padding is switched only for the
    duration of each call.
    """

    def __init__(self, vae, axis: str):
        self.wrapped_vae = vae
        self.tiling_axis = axis

    def __getattr__(self, name):
        return getattr(self.wrapped_vae, name)

    def _wrapped(self, method: str, *args, **kwargs):
        vae = self.wrapped_vae
        with circular_padding(vae.first_stage_model, self.tiling_axis):
            return getattr(vae, method)(*args, **kwargs)

    def decode(self, *args, **kwargs):
        return self._wrapped("decode", *args, **kwargs)

    def decode_tiled(self, *args, **kwargs):
        return self._wrapped("decode_tiled", *args, **kwargs)

    def encode(self, *args, **kwargs):
        return self._wrapped("encode", *args, **kwargs)

    def encode_tiled(self, *args, **kwargs):
        return self._wrapped("encode_tiled", *args, **kwargs)


def _seamless_apply_model(axis: str):
    def wrapper(executor, *args, **kwargs):
        with circular_padding(executor.class_obj.diffusion_model, axis):
            return executor(*args, **kwargs)

    return wrapper


class SeamlessTiling(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.SeamlessTiling",
            display_name="Seamless Tiling (model + VAE)",
            category="DGX-Pixels/tiling",
            description="Makes every convolution of the diffusion model and of the VAE wrap around the image edges, "
                        "so generated images tile without seams. Returns patched copies: the loaded model and VAE "
                        "stay unchanged for the rest of the workflow.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model to sample tiles with."),
                io.Vae.Input("vae", tooltip="The VAE that decodes (and encodes) the tiles."),
                io.Combo.Input("axis", options=list(AXES), default="both", tooltip=AXIS_TOOLTIP),
            ],
            outputs=[
                io.Model.Output("tiling_model", display_name="MODEL",
                                tooltip="The model with wrap-around convolutions; connect it to the sampler."),
                io.Vae.Output("tiling_vae", display_name="VAE",
                              tooltip="The VAE with wrap-around convolutions; connect it to VAE Decode."),
            ],
        )

    @classmethod
    def execute(cls, model, vae, axis="both") -> io.NodeOutput:
        if axis not in AXES:
            raise ValueError(f"axis must be one of {', '.join(AXES)}; got {axis!r}")
        tiling_model = model.clone()
        tiling_model.add_wrapper_with_key(WrappersMP.APPLY_MODEL, WRAPPER_KEY, _seamless_apply_model(axis))
        base_vae = vae.wrapped_vae if isinstance(vae, SeamlessVAE) else vae
        return io.NodeOutput(tiling_model, SeamlessVAE(base_vae, axis))


class TilePreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DGXPixels.TilePreview",
            display_name="Tile Preview (3×3 + seam error)",
            category="DGX-Pixels/tiling",
            description="Repeats each image 3×3 (or 3× along one axis) so seams show, and measures them: the seam "
                        "error is the mean colour difference where the right edge meets the left (and bottom meets "
                        "top), 0 for a perfect tile.",
            inputs=[
                io.Image.Input("image", tooltip="The tile(s) to check; any batch size."),
                io.Combo.Input("axis", options=list(AXES), default="both", tooltip=AXIS_TOOLTIP),
                io.Int.Input("repeats", default=3, min=1, max=8, tooltip="How many copies along each tiled axis."),
            ],
            outputs=[
                io.Image.Output("tiled_preview", display_name="preview", tooltip="The tiled images."),
                io.Float.Output("seam_error", display_name="seam error",
                                tooltip="Mean colour difference across the seams (0..1; 0 = seamless)."),
                io.String.Output("seam_report", display_name="report",
                                 tooltip="Seam errors per axis, compared with the differences inside the image."),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, image, axis="both", repeats=3) -> io.NodeOutput:
        if image.dim() == 4:
            b, h, w, c = image.shape
            tall, wide = (repeats if axis in ("both", "y") else 1), (repeats if axis in ("both", "x") else 1)
            require_node_memory(image_bytes(b, h * tall, w * wide, c),
                                f"tiling {b} image(s) of {w}x{h} {repeats} times", "repeats (or preview fewer tiles)")
        report = measure_seams(image)
        tiled = tile_preview(image, repeats, axis)
        error = report.seam_error(axis)
        preview = ui.PreviewImage(tiled, cls=cls).as_dict()
        return io.NodeOutput(tiled, error, report.summary(),
                             ui={**preview, "dgx_seam_error": [error], "text": [report.summary()]})


NODES = [SeamlessTiling, TilePreview]
