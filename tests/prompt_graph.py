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
