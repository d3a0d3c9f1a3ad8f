"""Convert an editor (UI-format) workflow into an API-format prompt without a browser.

The UI format stores widget values by position (``widgets_values``) and links in a separate table; the order of
the widgets comes from the engine's ``/object_info`` (``input_order`` when present). Handled: the extra values of
``control_after_generate`` and image-upload widgets, muted nodes (mode 2, dropped with what only they feed),
bypassed nodes (mode 4, each consumer takes the bypassed node's input of the same type), ``Reroute``,
``PrimitiveNode`` (its value is written into each target), notes. Subgraphs are refused with a clear error.
"""

from __future__ import annotations

from typing import Any

from .params import closest

MUTED, BYPASSED = 2, 4
VIRTUAL = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}


class UIConversionError(ValueError):
    """The UI workflow cannot be converted; the message names the node and what is missing."""


def _ordered_inputs(info: dict) -> list[tuple[str, list]]:
    inputs = info.get("input", {})
    order = info.get("input_order") or {}
    out = []
    for section in ("required", "optional"):
        specs = inputs.get(section) or {}
        for name in order.get(section) or list(specs):
            if name in specs:
                out.append((name, specs[name]))
    return out


def _is_widget(spec: list) -> bool:
    kind = spec[0] if spec else None
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _widget_values(node: dict, info: dict) -> dict[str, Any]:
    """Map widget names to values for one node, consuming the extra values the editor stores after some widgets."""
    raw = node.get("widgets_values")
    if isinstance(raw, dict):
        return dict(raw)
    values = list(raw or [])
    named: dict[str, Any] = {}
    index = 0
    for name, spec in _ordered_inputs(info):
        if not _is_widget(spec) or index >= len(values):
            continue
        named[name] = values[index]
        index += 1
        options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        extra = options.get("control_after_generate") or (spec[0] == "INT" and name in ("seed", "noise_seed"))
        if extra and index < len(values) and values[index] in CONTROL_VALUES:
            index += 1
        if (options.get("image_upload") or options.get("upload")) and index < len(values) \
                and values[index] in ("image", "video", "audio", "file"):
            index += 1
    return named


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Return the API-format prompt of the UI-format ``workflow``; raise UIConversionError naming the problem."""
    if not isinstance(workflow, dict) or "nodes" not in workflow:
        raise UIConversionError("not a UI-format workflow (no 'nodes' list)")
    subgraph_ids = {sg.get("id") for sg in (workflow.get("definitions") or {}).get("subgraphs", [])}
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links: dict[int, tuple[int, int, str]] = {}
    for link in workflow.get("links", []):
        if isinstance(link, dict):
            links[link["id"]] = (link["origin_id"], link["origin_slot"], link.get("type", "*"))
        else:
            links[link[0]] = (link[1], link[2], link[5] if len(link) > 5 else "*")

    def source(link_id: int, seen: frozenset = frozenset()) -> Any:
        """The API value of a link: ``[node, slot]``, a literal (PrimitiveNode), or None (muted/dangling)."""
        if link_id not in links or link_id in seen:
            return None
        origin_id, slot, kind = links[link_id]
        origin = nodes.get(origin_id)
        if origin is None or origin.get("mode", 0) == MUTED:
            return None
        seen = seen | {link_id}
        if origin["type"] == "Reroute":
            upstream = next((i.get("link") for i in origin.get("inputs", []) if i.get("link") is not None), None)
            return None if upstream is None else source(upstream, seen)
        if origin["type"] == "PrimitiveNode":
            return {"literal": (origin.get("widgets_values") or [None])[0]}
        if origin.get("mode", 0) == BYPASSED:
            outputs = origin.get("outputs", [])
            out_type = outputs[slot].get("type") if slot < len(outputs) else kind
            for candidate in origin.get("inputs", []):
                if candidate.get("link") is not None and candidate.get("type") == out_type:
                    return source(candidate["link"], seen)
            return None
        return [str(origin_id), slot]

    prompt: dict[str, dict] = {}
    for node_id, node in nodes.items():
        kind = node.get("type")
        if node.get("mode", 0) in (MUTED, BYPASSED) or kind in VIRTUAL:
            continue
        if kind in subgraph_ids:
            raise UIConversionError(f"node {node_id} is a subgraph; subgraphs are not converted yet: unpack it in "
                                    "the editor (or export the API format with 'Export (API)')")
        info = object_info.get(kind)
        if info is None:
            near = closest(kind, list(object_info))
            raise UIConversionError(f"node {node_id}: the engine has no node type '{kind}'"
                                    + (f"; did you mean {near[0]!r}?" if near else "")
                                    + " (is the custom node pack that provides it installed?)")
        inputs: dict[str, Any] = _widget_values(node, info)
        for slot in node.get("inputs", []):
            if slot.get("link") is None:
                continue
            name = (slot.get("widget") or {}).get("name") or slot["name"]
            value = source(slot["link"])
            if isinstance(value, dict):
                inputs[name] = value["literal"]
            elif value is not None:
                inputs[name] = value
            else:
                inputs.pop(name, None)
        entry = {"class_type": kind, "inputs": inputs}
        if node.get("title"):
            entry["_meta"] = {"title": node["title"]}
        prompt[str(node_id)] = entry
    # Links into nodes that were dropped leave dangling references: drop those inputs (the engine then names any
    # required one that is missing).
    for entry in prompt.values():
        for name, value in list(entry["inputs"].items()):
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and value[0] not in prompt:
                del entry["inputs"][name]
    return prompt
