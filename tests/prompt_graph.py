"""Build API-format prompts in code instead of hand-written JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NodeRef:
    node_id: str

    def out(self, slot: int = 0) -> list:
        """A link to output ``slot`` of this node, as an API-format input value."""
        return [self.node_id, slot]


class Graph:
    """``g = Graph(); ckpt = g.node("CheckpointLoaderSimple", ckpt_name=...); g.prompt`` → API-format dict."""

    def __init__(self) -> None:
        self.prompt: dict[str, dict[str, Any]] = {}

    def node(self, class_type: str, **inputs: Any) -> NodeRef:
        node_id = str(len(self.prompt) + 1)
        self.prompt[node_id] = {
            "class_type": class_type,
            "inputs": {name: value.out() if isinstance(value, NodeRef) else value for name, value in inputs.items()},
        }
        return NodeRef(node_id)


def txt2img(g: Graph, checkpoint: str, *, text: str = "pixel art knight", negative: str = "blurry",
            size: int = 64, batch: int = 1, seed: int = 1, steps: int = 2, cfg: float = 5.0) -> NodeRef:
    """Add the core text-to-image chain to ``g`` and return its VAEDecode node.

    Node ids, in order: CheckpointLoaderSimple, CLIPTextEncode (positive), CLIPTextEncode (negative),
    EmptyLatentImage, KSampler, VAEDecode — so in a fresh graph the latent is node "4"."""
    ckpt = g.node("CheckpointLoaderSimple", ckpt_name=checkpoint)
    positive = g.node("CLIPTextEncode", text=text, clip=ckpt.out(1))
    negative_node = g.node("CLIPTextEncode", text=negative, clip=ckpt.out(1))
    latent = g.node("EmptyLatentImage", width=size, height=size, batch_size=batch)
    sampled = g.node("KSampler", model=ckpt.out(0), positive=positive.out(), negative=negative_node.out(),
                     latent_image=latent.out(), seed=seed, steps=steps, cfg=cfg, sampler_name="euler",
                     scheduler="normal", denoise=1.0)
    return g.node("VAEDecode", samples=sampled.out(), vae=ckpt.out(2))
