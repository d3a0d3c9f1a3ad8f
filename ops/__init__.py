"""Pure, batch-first image operations (torch/numpy/PIL). No ComfyUI imports, no I/O."""
