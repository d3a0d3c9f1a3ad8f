"""Convert an editor (UI-format) workflow into an API-format prompt without a browser.

The UI format stores widget values by position (``widgets_values``) and links in a separate table; the order of
the widgets comes from the engine's ``/object_info`` (``input_order`` when present). Handled: the extra values of
``control_after_generate`` and image-upload widgets, muted nodes (mode 2, dropped with what only they feed),
bypassed nodes (mode 4, each consumer takes the bypassed node's input of the same type), ``Reroute``,
``PrimitiveNode`` (its value is written into each target), notes, and subgraphs: each instance is replaced by its
inner nodes, named ``<instance id>:<inner id>`` (nested: ``14:13:6``) as the editor names them when it queues, with
links followed through the subgraph's input and output nodes. A subgraph input left unlinked on the instance
keeps the inner widget's value (the editor mirrors a promoted widget into it). A muted or bypassed instance
behaves as one muted or bypassed node: none of its inner nodes run.
"""

from __future__ import annotations

from typing import Any

from .params import closest

MUTED, BYPASSED = 2, 4
SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = -10, -20  # ids of a subgraph's boundary nodes in its own links
MAX_SUBGRAPH_DEPTH = 32
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


class _Scope:
    """One graph being flattened: the top level, or one subgraph instance (``instance``) inside ``parent``."""

    def __init__(self, prefix: str, nodes: list[dict], links: list, subgraph: dict | None = None,
                 instance: dict | None = None, parent: _Scope | None = None):
        self.prefix, self.subgraph, self.instance, self.parent = prefix, subgraph, instance, parent
        self.nodes = {node["id"]: node for node in nodes}
        self.links: dict[int, tuple[int, int, str]] = {}
        for link in links or []:
            if isinstance(link, dict):
                self.links[link["id"]] = (link["origin_id"], link["origin_slot"], link.get("type", "*"))
            else:
                self.links[link[0]] = (link[1], link[2], link[5] if len(link) > 5 else "*")
        self.depth = 0 if parent is None else parent.depth + 1


def _flatten(workflow: dict) -> tuple[list[dict], dict[int, tuple[str, int, str]]]:
    """Return the workflow's nodes with every active subgraph instance replaced by its inner nodes, and one link
    table for them all: link id → (origin node id, origin slot, type), node ids as strings."""
    subgraphs = {sg.get("id"): sg for sg in (workflow.get("definitions") or {}).get("subgraphs", [])}
    flat_nodes: list[dict] = []
    flat_links: dict[int, tuple[str, int, str]] = {}

    def is_instance(node: dict) -> bool:
        return node.get("type") in subgraphs and node.get("mode", 0) not in (MUTED, BYPASSED)

    def enter(scope: _Scope, instance: dict) -> _Scope:
        if scope.depth >= MAX_SUBGRAPH_DEPTH:
            raise UIConversionError(f"node {scope.prefix}{instance['id']}: subgraphs nest deeper than "
                                    f"{MAX_SUBGRAPH_DEPTH} levels (does a subgraph contain itself?)")
        sg = subgraphs[instance["type"]]
        return _Scope(f"{scope.prefix}{instance['id']}:", sg.get("nodes", []), sg.get("links", []), sg, instance,
                      scope)

    def origin_of(scope: _Scope, link_id: int) -> tuple[str, int, str] | None:
        """Follow a link out of subgraph boundaries to the real node that feeds it (None: nothing does)."""
        if link_id not in scope.links:
            return None
        origin_id, slot, kind = scope.links[link_id]
        if origin_id == SUBGRAPH_INPUT and scope.subgraph is not None:
            inputs = scope.subgraph.get("inputs", [])
            name = inputs[slot].get("name") if slot < len(inputs) else None
            outer = next((i.get("link") for i in scope.instance.get("inputs", [])
                          if i.get("name") == name and i.get("link") is not None), None)
            return None if outer is None else origin_of(scope.parent, outer)
        origin = scope.nodes.get(origin_id)
        if origin is None:
            return None
        if is_instance(origin):
            inner = enter(scope, origin)
            outputs = inner.subgraph.get("outputs", [])
            feeding = outputs[slot].get("linkIds", []) if slot < len(outputs) else []
            return origin_of(inner, feeding[0]) if feeding else None
        return f"{scope.prefix}{origin_id}", slot, kind

    def walk(scope: _Scope) -> None:
        for node in scope.nodes.values():
            if is_instance(node):
                walk(enter(scope, node))
                continue
            copy = dict(node, id=f"{scope.prefix}{node['id']}", inputs=[])
            for slot in node.get("inputs", []):
                origin = origin_of(scope, slot["link"]) if slot.get("link") is not None else None
                link_id = None
                if origin is not None:
                    link_id = len(flat_links) + 1
                    flat_links[link_id] = origin
                copy["inputs"].append(dict(slot, link=link_id))
            flat_nodes.append(copy)

    walk(_Scope("", workflow["nodes"], workflow.get("links", [])))
    return flat_nodes, flat_links


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Return the API-format prompt of the UI-format ``workflow``; raise UIConversionError naming the problem."""
    if not isinstance(workflow, dict) or "nodes" not in workflow:
        raise UIConversionError("not a UI-format workflow (no 'nodes' list)")
    flat_nodes, links = _flatten(workflow)
    nodes = {node["id"]: node for node in flat_nodes}

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
        return [origin_id, slot]

    prompt: dict[str, dict] = {}
    for node_id, node in nodes.items():
        kind = node.get("type")
        if node.get("mode", 0) in (MUTED, BYPASSED) or kind in VIRTUAL:
            continue
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
