"""Side-by-side comparison: a batch of results as one labelled, pixel-exact grid."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..host.memory import image_bytes, require_node_memory
from ..ops.compare_grid import MAX_SCALE, compare_grid, parse_labels, plan_grid

EXTRA_BATCHES = 11  # image_2 .. image_12: one per cell of the bundled 4 LoRAs × 3 strengths workflow


class CompareGrid(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        extra = [io.Image.Input(f"image_{n}", optional=True,
                                tooltip="More results, appended after the ones before (any batch size).")
                 for n in range(2, EXTRA_BATCHES + 2)]
        return io.Schema(
            node_id="DGXPixels.CompareGrid",
            display_name="Compare Grid (labelled)",
            category="DGX-Pixels/compare",
            description="Lays results out row by row in a grid, each enlarged by a whole factor (nearest), with row "
                        "and column labels in a pixel font: compare models, LoRAs, strengths, seeds or palettes.",
            inputs=[
                io.Image.Input("images", tooltip="The results, in row-major order (all the same size)."),
                io.String.Input("row_labels", default="", multiline=True,
                                tooltip="One label per row: one per line, or comma-separated (e.g. the LoRAs)."),
                io.String.Input("column_labels", default="",
                                tooltip="One label per column, comma-separated or one per line (e.g. 0, 0.6, 1.0)."),
                io.Int.Input("columns", default=0, min=0, max=64,
                             tooltip="Cells per row; 0 = one per column label (or all in one row)."),
                io.Int.Input("scale", default=4, min=1, max=MAX_SCALE, tooltip="Each pixel becomes scale×scale."),
                io.Int.Input("gap_px", default=4, min=0, max=64, tooltip="Space between cells and around labels."),
                io.Int.Input("label_scale", default=1, min=1, max=8, tooltip="Size of the 5×7 label font."),
                *extra,
            ],
            outputs=[io.Image.Output("grid", display_name="grid")],
        )

    @classmethod
    def execute(cls, images, row_labels, column_labels, columns, scale, gap_px, label_scale,
                **extra) -> io.NodeOutput:
        batches = [images] + [extra[f"image_{n}"] for n in range(2, EXTRA_BATCHES + 2)
                              if extra.get(f"image_{n}") is not None]
        sizes = {tuple(batch.shape[1:]) for batch in batches}
        if len(sizes) != 1:
            raise ValueError(f"every result must have the same size and channels to share a grid, got "
                             f"{sorted(sizes)} (H, W, C); pixelize them to one size first")
        count = sum(batch.shape[0] for batch in batches)
        _, image_h, image_w, channels = batches[0].shape
        layout = plan_grid(count, image_h, image_w, columns=columns, scale=scale, gap_px=gap_px,
                           row_labels=parse_labels(row_labels), column_labels=parse_labels(column_labels),
                           label_scale=label_scale)
        require_node_memory(image_bytes(2, layout.height, layout.width, channels) + image_bytes(count, image_h, image_w,
                            channels), f"a comparison grid of {layout.width}x{layout.height}",
                            "scale, gap_px or label_scale (or compare fewer images)")
        stacked = torch.cat([batch.cpu().float() for batch in batches], dim=0).numpy()
        grid, _ = compare_grid(stacked, columns=columns, scale=scale, gap_px=gap_px,
                               row_labels=parse_labels(row_labels), column_labels=parse_labels(column_labels),
                               label_scale=label_scale)
        return io.NodeOutput(torch.from_numpy(grid).unsqueeze(0))


NODES = [CompareGrid]
