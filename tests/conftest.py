import sys
from pathlib import Path

# Shared test helpers (prompt_graph, ...) live in tests/. Never put the repo root on sys.path: its `nodes/`
# folder would shadow ComfyUI's `nodes` module. The pack itself is imported as `dgx_pixels`.
sys.path.insert(0, str(Path(__file__).resolve().parent))
