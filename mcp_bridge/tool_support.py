"""What the bridge's tools share besides the job manager: short argument errors for MCP clients, and loading and
diagnosing any workflow a user hands over (API or UI format, as text or a file under the allowed folders).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.server.middleware import Middleware

from ..engine.params import Workflow, check_prompt, is_api_format
from ..export.paths import inside_roots

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx")
VIRTUAL_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MAX_WORKFLOW_BYTES = 4 * 1024 * 1024
# MCP tool annotations of a tool that only reads: listings and status.
READ_ONLY = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}


def short_argument_error(tool: str, exc: Exception, params: list[str]) -> str:
    """Return one line naming each bad argument of ``tool`` in the pydantic error ``exc`` (with the closest name
    for an unknown one), instead of pydantic's multi-line text with a docs URL."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    errors = cause.errors(include_url=False) if hasattr(cause, "errors") else []
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(part) for part in error.get("loc", ())) or "arguments"
        kind = error.get("type", "")
        if kind == "unexpected_keyword_argument":
            near = difflib.get_close_matches(loc, params, n=1)
            parts.append(f"unknown argument '{loc}'" + (f"; did you mean '{near[0]}'?" if near else "")
                         + f" ({tool} takes: {', '.join(params) or 'nothing'})")
        elif kind in ("missing", "missing_argument"):
            parts.append(f"missing required argument '{loc}'")
        else:
            got = error.get("input")
            shown = repr(got) if len(repr(got)) <= 60 else repr(got)[:57] + "..."
            hint = ""
            choices = (error.get("ctx") or {}).get("expected", "")
            if kind == "literal_error" and isinstance(got, str) and choices:
                # pydantic lists the choices as "'a', 'b' or 'c'": offer the nearest, as for unknown names.
                near = difflib.get_close_matches(got, [c.strip(" '") for c in choices.replace(" or ", ",").split(",")],
                                                 n=1)
                hint = f"; did you mean '{near[0]}'?" if near else ""
            parts.append(f"argument '{loc}': {error.get('msg', 'invalid')} (got {shown}){hint}")
    if not parts:
        return f"invalid arguments for {tool}: {str(cause).splitlines()[0]}"
    return "; ".join(parts) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")


class ShortArgumentErrors(Middleware):
    """Answer a tool call with wrong arguments by one ToolError line naming the argument (see
    ``short_argument_error``): agents read pydantic's dump badly and it ends in a URL."""

    def __init__(self, server: Any):
        self.server = server

    async def on_call_tool(self, context, call_next):
        try:
            return await call_next(context)
        except ValidationError as exc:
            name = context.message.name
            try:
                tool = await self.server.get_tool(name)
                params = list((tool.parameters or {}).get("properties", {}))
            except Exception:  # noqa: BLE001 - the names only improve the message; never hide the real error
                params = []
            raise ToolError(short_argument_error(name, exc, params)) from None


@dataclass
class Diagnosis:
    """Why a workflow cannot run: node types the engine lacks, model files it lacks, and other problems."""

    missing_node_types: list[str] = field(default_factory=list)
    missing_models: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing_node_types or self.missing_models or self.problems)

    def summary(self) -> str:
        """One paragraph naming every problem (empty when there is none)."""
        lines = []
        if self.missing_node_types:
            lines.append("missing node types: " + ", ".join(self.missing_node_types)
                         + " (install the custom node packs that provide them)")
        for model in self.missing_models:
            lines.append(f"missing model {model['value']!r} (node {model['node']} {model['class_type']}."
                         f"{model['input']}); installed: {', '.join(model['installed'][:10]) or 'none'}")
        lines += self.problems
        return "\n".join(lines)

    def describe(self) -> dict:
        return {"valid": self.ok, "missing_node_types": self.missing_node_types,
                "missing_models": self.missing_models, "problems": self.problems}


def read_workflow_source(source: str, roots: list[Path]) -> tuple[str, Any]:
    """Return (name, parsed JSON) of ``source``: JSON text, or a path to a .json file under one of ``roots``.

    Raises ToolError for a path outside the roots, a missing or oversized file, or text that is not JSON."""
    text = source.strip()
    if text.startswith("{"):
        name = "workflow"
    else:
        candidate = Path(text).expanduser()
        if not candidate.is_absolute() and roots:
            candidate = roots[0] / candidate
        path = inside_roots(candidate, roots)
        if path is None:
            raise ToolError(f"workflow {source!r} is neither JSON text nor a file under the allowed folders "
                            f"({', '.join(map(str, roots)) or 'none'})")
        if not path.is_file():
            raise ToolError(f"workflow {source!r}: no such file")
        if path.stat().st_size > MAX_WORKFLOW_BYTES:
            raise ToolError(f"workflow {source!r} is over {MAX_WORKFLOW_BYTES} bytes")
        text, name = path.read_text(errors="replace"), path.name.removesuffix(".json").removesuffix(".api")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(f"workflow is not valid JSON: {exc}") from None
    return name, data


def ui_node_types(workflow: dict) -> set[str]:
    """Return the engine node types a UI-format workflow uses (its subgraphs' inner nodes too, not the instances
    of the subgraphs themselves nor editor-only nodes)."""
    subgraphs = (workflow.get("definitions") or {}).get("subgraphs") or []
    ids = {sg.get("id") for sg in subgraphs}
    nodes = list(workflow.get("nodes") or []) + [node for sg in subgraphs for node in sg.get("nodes") or []]
    return {str(node.get("type")) for node in nodes if isinstance(node, dict)
            and node.get("type") not in ids and node.get("type") not in VIRTUAL_TYPES
            and node.get("mode", 0) != 2}  # a muted node never reaches the engine


def prompt_of(data: Any) -> dict | None:
    """Return the API prompt in ``data`` (a prompt or a saved POST /prompt body), or None for a UI workflow."""
    if is_api_format(data):
        return data
    if isinstance(data, dict) and is_api_format(data.get("prompt")):
        return data["prompt"]
    return None


def missing_models(prompt: dict, object_info: dict) -> list[dict]:
    """Return each input whose value is a model file name the engine does not list for it, with what it has."""
    from ..engine.params import _input_spec, combo_options

    found = []
    for node_id, node in prompt.items():
        info = object_info.get(node.get("class_type"))
        if info is None:
            continue
        for input_name, value in (node.get("inputs") or {}).items():
            if not isinstance(value, str) or not value.lower().endswith(MODEL_SUFFIXES):
                continue
            spec = _input_spec(info, input_name)
            options = combo_options(spec) if spec else None
            if options is not None and value not in options:
                found.append({"node": node_id, "class_type": node["class_type"], "input": input_name,
                              "value": value, "installed": [str(option) for option in options]})
    return found


def diagnose(prompt: dict, object_info: dict, workflow: Workflow | None = None) -> Diagnosis:
    """Return every reason the engine would refuse ``prompt``, missing node types and models set apart."""
    known = set(object_info)
    missing_types = sorted({str(node.get("class_type")) for node in prompt.values()} - known)
    models = missing_models(prompt, object_info)
    model_keys = {(m["node"], m["input"]) for m in models}
    problems = [problem for problem in check_prompt(prompt, object_info, None, workflow)
                if "the engine has no node type" not in problem
                and not any(problem.startswith(f"node {node} (") and f"input '{name}'" in problem
                            for node, name in model_keys)]
    return Diagnosis(missing_types, models, problems)
