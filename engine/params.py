"""Workflow parameter manifests: set prompt, seed, size, palette, frames... of a workflow by name, not by node id.

A bundled workflow is an API-format prompt ``NAME.api.json`` plus a manifest ``NAME.params.json``::

    {"name": "txt2img_basic", "description": "...", "workflow": "txt2img_basic.api.json",
     "params": {"seed": {"node": "5", "input": "seed", "type": "int", "default": 1, "min": 0, "max": 99}}}

Types: ``string``, ``int``, ``float``, ``bool``, ``choice`` (one of the engine's combo values), ``model`` (a file
of the model folder ``folder``) and ``image`` (a file in the engine's input folder, e.g. what ``upload_image``
returned, or a local image file that ``prepare`` uploads first). Values are coerced (the CLI passes strings), bounded
by the manifest, and checked against the engine's ``/object_info`` and ``/models`` before submission, with the
closest valid names suggested.

``node`` may be a list of node ids: one value written into the same input of several nodes (the seed of every
KSampler of a comparison grid, the LoRA of a whole row).
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# API twins and manifests sit one folder down, so the editor's template browser lists only UI workflows.
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "workflows" / "api"
TYPES = ("string", "int", "float", "bool", "choice", "model", "image")
# What an ``image`` parameter uploads from a local path: the formats LoadImage reads, known by their first bytes,
# so a path to any other file (a key, a config) is never copied into the engine's input folder.
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"RIFF")
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


class ParameterError(ValueError):
    """A value, a parameter name or a node of a workflow is wrong; the message says what would be right."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def closest(word: str, options: list[str], n: int = 3) -> list[str]:
    """Return up to ``n`` of ``options`` closest to ``word`` (case-insensitive), best first."""
    lowered = {option.lower(): option for option in options}
    return [lowered[m] for m in difflib.get_close_matches(str(word).lower(), list(lowered), n=n, cutoff=0.4)]


def _did_you_mean(word: str, options: list[str]) -> str:
    near = closest(word, options)
    return f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""


@dataclass
class ParamSpec:
    """One settable value: which node input it writes, its type, default and bounds."""

    name: str
    node: str
    input: str
    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    multiple_of: int | None = None
    choices: list[str] | None = None
    folder: str | None = None
    description: str = ""
    # Every (node, input) the value is written into; the first is (node, input). Empty means just that one.
    targets: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        if not self.targets:
            self.targets = [(self.node, self.input)]

    def describe(self) -> dict:
        """Return the spec as a JSON-able dict for listings (no node ids: callers need not know them)."""
        out = {"type": self.type, "default": self.default, "description": self.description}
        for key in ("min", "max", "multiple_of", "choices", "folder"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this type and inside the manifest's bounds; raise ParameterError."""
        try:
            if self.type == "int":
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                value = int(value)
            elif self.type == "float":
                value = float(value)
            elif self.type == "bool":
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = value.lower() in ("true", "1", "yes")
                value = bool(value)
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise ParameterError([f"parameter '{self.name}' must be a {self.type}, got {value!r}"]) from None
        if self.type in ("int", "float"):
            if self.min is not None and value < self.min:
                raise ParameterError([f"parameter '{self.name}' = {value} is below its minimum {self.min}"])
            if self.max is not None and value > self.max:
                raise ParameterError([f"parameter '{self.name}' = {value} is above its maximum {self.max}"])
            if self.multiple_of and value % self.multiple_of:
                raise ParameterError([f"parameter '{self.name}' = {value} must be a multiple of {self.multiple_of} "
                                      f"(try {round(value / self.multiple_of) * self.multiple_of})"])
        if self.choices is not None and value not in self.choices:
            raise ParameterError([f"parameter '{self.name}' = {value!r} is not one of {self.choices}"
                                  + _did_you_mean(value, self.choices)])
        return value


@dataclass
class Workflow:
    """An API-format prompt plus its parameters (empty for a workflow without a manifest)."""

    name: str
    prompt: dict
    params: dict[str, ParamSpec] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None

    def describe(self) -> dict:
        return {"name": self.name, "description": self.description,
                "params": {name: spec.describe() for name, spec in self.params.items()}}

    def apply(self, values: dict[str, Any] | None = None) -> dict:
        """Return a copy of the prompt with manifest defaults and ``values`` written in.

        Raises ParameterError listing every unknown name (with suggestions) and every bad value.
        """
        prompt = copy.deepcopy(self.prompt)
        problems = []
        values = dict(values or {})
        for name in values:
            if name not in self.params:
                problems.append(f"workflow '{self.name}' has no parameter '{name}'"
                                + _did_you_mean(name, list(self.params))
                                + f" (it has: {', '.join(self.params) or 'none'})")
        for name, spec in self.params.items():
            if name not in values and spec.default is None:
                continue
            try:
                value = spec.coerce(values.get(name, spec.default))
            except ParameterError as exc:
                problems.extend(exc.problems)
                continue
            for node, input_name in spec.targets:
                prompt[node]["inputs"][input_name] = value
        if problems:
            raise ParameterError(problems)
        return prompt


def _spec_from_json(name: str, raw: dict, prompt: dict, source: Path) -> ParamSpec:
    nodes = raw.get("node")
    nodes = [str(node) for node in nodes] if isinstance(nodes, list) else [str(nodes)]
    input_name = raw.get("input")
    kind = raw.get("type", "string")
    if kind not in TYPES:
        raise ParameterError([f"{source}: parameter '{name}' has type {kind!r}; use one of {', '.join(TYPES)}"])
    if not nodes:
        raise ParameterError([f"{source}: parameter '{name}' names no node"])
    for node in nodes:
        if node not in prompt or input_name not in prompt[node].get("inputs", {}):
            raise ParameterError([f"{source}: parameter '{name}' points at node {node} input {input_name!r}, "
                                  "which the workflow does not have"])
    return ParamSpec(name=name, node=nodes[0], input=input_name, type=kind, default=raw.get("default"),
                     min=raw.get("min"), max=raw.get("max"), multiple_of=raw.get("multiple_of"),
                     choices=raw.get("choices"), folder=raw.get("folder"), description=raw.get("description", ""),
                     targets=[(node, input_name) for node in nodes])


def load_workflow(path: str | Path) -> Workflow:
    """Load a manifest (``*.params.json``) or an API-format prompt (with its manifest next to it, if any).

    UI-format files are converted first (``ui_to_api``) only by callers that hold an object_info; here they raise
    ParameterError saying so.
    """
    path = Path(path)
    if path.name.endswith(".params.json"):
        manifest = json.loads(path.read_text())
        prompt_path = path.parent / manifest.get("workflow", path.name.replace(".params.json", ".api.json"))
    else:
        prompt_path = path
        manifest_path = path.parent / (path.name.removesuffix(".json").removesuffix(".api") + ".params.json")
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    prompt = json.loads(prompt_path.read_text())
    if not is_api_format(prompt):
        raise ParameterError([f"{prompt_path} is a UI-format workflow; convert it with ui_to_api first"])
    name = manifest.get("name") or prompt_path.name.removesuffix(".json").removesuffix(".api")
    params = {key: _spec_from_json(key, raw, prompt, path) for key, raw in manifest.get("params", {}).items()}
    return Workflow(name, prompt, params, manifest.get("description", ""), prompt_path)


def is_api_format(data: Any) -> bool:
    """True for an API-format prompt ``{id: {class_type, inputs}}``; False for a UI workflow (``nodes``/``links``)."""
    return isinstance(data, dict) and bool(data) and all(
        isinstance(node, dict) and "class_type" in node for node in data.values())


_loaded: dict[Path, tuple[tuple, Workflow]] = {}


def _load_cached(manifest: Path) -> Workflow:
    # The bridge looks workflows up on every tool call; parse a manifest again only when it or its prompt changed.
    def stamp(path: Path) -> tuple:
        try:
            info = path.stat()
        except OSError:
            return (None,)
        return (info.st_mtime_ns, info.st_size)

    cached = _loaded.get(manifest)
    if cached is not None and cached[0] == (stamp(manifest), stamp(cached[1].path)):
        return cached[1]
    workflow = load_workflow(manifest)
    _loaded[manifest] = ((stamp(manifest), stamp(workflow.path)), workflow)
    return workflow


def bundled_workflows(directories: list[Path] | None = None) -> dict[str, Workflow]:
    """Return every manifest-backed workflow in ``directories`` (default: the pack's workflows/), by name.

    The returned workflows are shared: callers must not change them (``Workflow.apply`` returns a copy)."""
    found: dict[str, Workflow] = {}
    for directory in directories or [BUNDLED_DIR]:
        for manifest in sorted(Path(directory).glob("*.params.json")):
            workflow = _load_cached(manifest)
            found.setdefault(workflow.name, workflow)
    return found


def find_workflow(name: str, directories: list[Path] | None = None) -> Workflow:
    """Return the bundled workflow ``name``; raise ParameterError with the closest names otherwise."""
    workflows = bundled_workflows(directories)
    if name not in workflows:
        raise ParameterError([f"no workflow named '{name}'" + _did_you_mean(name, list(workflows))
                              + f" (bundled: {', '.join(workflows) or 'none'})"])
    return workflows[name]


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """Turn CLI ``NAME=VALUE`` strings into a dict; JSON values (numbers, lists) are decoded, the rest stay text."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError([f"--set {pair!r} must look like NAME=VALUE"])
        try:
            values[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[name.strip()] = raw
    return values


def apply_raw(prompt: dict, values: dict[str, Any]) -> dict:
    """Return a copy of ``prompt`` with ``NODE.INPUT`` keys of ``values`` written in (for workflows without a
    manifest); raise ParameterError naming a missing node or input."""
    prompt = copy.deepcopy(prompt)
    problems = []
    for key, value in values.items():
        node, _, input_name = key.partition(".")
        if node not in prompt:
            problems.append(f"'{key}': the workflow has no node {node!r} (nodes: {', '.join(prompt)}); without a "
                            "manifest, set values as NODE_ID.INPUT=VALUE")
        elif input_name not in prompt[node].get("inputs", {}):
            problems.append(f"'{key}': node {node} ({prompt[node]['class_type']}) has no input {input_name!r}"
                            + _did_you_mean(input_name, list(prompt[node].get("inputs", {}))))
        else:
            prompt[node]["inputs"][input_name] = value
    if problems:
        raise ParameterError(problems)
    return prompt


def _input_spec(info: dict, input_name: str) -> list | None:
    for section in ("required", "optional"):
        spec = (info.get("input", {}).get(section) or {}).get(input_name)
        if spec is not None:
            return spec
    return None


def combo_options(spec: list) -> list | None:
    """Return the allowed values of a combo input spec (old list form or V3 ``["COMBO", {"options": ...}]``)."""
    if spec and isinstance(spec[0], list):
        return spec[0]
    if spec and spec[0] == "COMBO" and len(spec) > 1:
        return list(spec[1].get("options", []))
    return None


def check_prompt(prompt: dict, object_info: dict, models: dict[str, list[str]] | None = None,
                 workflow: Workflow | None = None) -> list[str]:
    """Return every problem the engine would reject, found without submitting: unknown node classes, inputs
    outside their bounds, combo values (models, samplers...) that do not exist; each with the closest names.

    ``object_info`` needs an entry for each class in the prompt; ``models`` maps folder → files for ``model`` params.
    Problems on a manifest parameter are named by the parameter.
    """
    by_target = {target: spec for spec in (workflow.params.values() if workflow else []) for target in spec.targets}
    problems = []
    for node_id, node in prompt.items():
        class_type = node.get("class_type")
        info = object_info.get(class_type)
        if info is None:
            problems.append(f"node {node_id}: the engine has no node type '{class_type}'"
                            + _did_you_mean(class_type, list(object_info))
                            + " (is the custom node pack that provides it installed?)")
            continue
        for input_name, value in node.get("inputs", {}).items():
            if isinstance(value, list):
                continue  # a link
            spec = _input_spec(info, input_name)
            param = by_target.get((node_id, input_name))
            where = (f"parameter '{param.name}'" if param else f"node {node_id} ({class_type}) input '{input_name}'")
            if param is not None and param.type == "model" and models is not None and param.folder in models:
                if value not in models[param.folder]:
                    problems.append(f"{where} = {value!r} is not in the engine's {param.folder}"
                                    + _did_you_mean(value, models[param.folder])
                                    + f" (available: {', '.join(models[param.folder][:10]) or 'none'})")
                    continue
            if spec is None:
                continue
            if param is not None and param.type == "image":
                continue  # prepare checks it against a fresh listing: a cached one misses files uploaded since
            options = combo_options(spec)
            if options is not None:
                if value not in options:
                    problems.append(f"{where} = {value!r} is not allowed" + _did_you_mean(value, options)
                                    + (f" (allowed: {', '.join(map(str, options[:12]))})" if options else
                                       " (the engine offers no values: is the model folder empty?)"))
                continue
            bounds = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if bounds.get("min") is not None and value < bounds["min"]:
                    problems.append(f"{where} = {value} is below the engine's minimum {bounds['min']}")
                if bounds.get("max") is not None and value > bounds["max"]:
                    problems.append(f"{where} = {value} is above the engine's maximum {bounds['max']}")
    return problems


async def prepare(client, workflow: Workflow, values: dict[str, Any] | None = None,
                  object_info_cache: dict | None = None, *, upload_local_files: bool = True) -> dict:
    """Return the prompt of ``workflow`` with ``values`` applied and checked against the engine behind ``client``
    (an EngineClient); raise ParameterError listing every problem. ``object_info_cache`` is filled and reused.

    An ``image`` parameter whose value is a local image file (PNG, JPEG, GIF, BMP, WebP) is uploaded into the
    engine's input folder first (identical content already there is reused, a different file of the same name is
    renamed by the engine), so ``--set image=photo.png`` works against a remote engine too. A server for remote
    callers passes ``upload_local_files=False``: its machine's files are not theirs to send."""
    values = dict(values or {})
    if workflow.params and upload_local_files:
        values.update(await _upload_local_images(client, workflow, values))
    prompt = workflow.apply(values) if workflow.params else apply_raw(workflow.prompt, values)
    cache = object_info_cache if object_info_cache is not None else {}
    missing = sorted({node["class_type"] for node in prompt.values()} - set(cache))
    if missing:
        from .client import EngineClientError

        for class_type in missing:
            try:
                cache.update(await client.object_info(class_type))
            except EngineClientError:
                pass  # unknown class: check_prompt names it, with the closest known names below
        if not set(missing) <= set(cache):
            cache.update(await client.object_info())
    folders = {spec.folder for spec in workflow.params.values() if spec.type == "model" and spec.folder}
    models = {folder: await client.models(folder) for folder in folders}
    problems = check_prompt(prompt, cache, models, workflow)
    problems += await _check_images(client, workflow, prompt)
    if problems:
        raise ParameterError(problems)
    return prompt


def _local_image(value: Any) -> Path | None:
    """Return ``value`` as a path when it names a readable local image file; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    path = Path(value).expanduser()
    try:
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError:
        return None
    if head.startswith(b"RIFF") and head[8:12] != b"WEBP":
        return None  # a WAV or AVI, not a WebP
    return path if head.startswith(IMAGE_MAGIC) else None


async def _upload_local_images(client, workflow: Workflow, values: dict[str, Any]) -> dict[str, str]:
    """Upload the local image files named by ``image`` parameters; return those parameters' engine names."""
    uploaded = {}
    for name, spec in workflow.params.items():
        path = _local_image(values.get(name))
        if spec.type != "image" or path is None:
            continue
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise ParameterError([f"parameter '{name}': {path} is {size} bytes; the most an upload may be is "
                                  f"{MAX_UPLOAD_BYTES}"])
        # overwrite=False: the engine keeps a same-named file of someone else's and renames ours instead.
        uploaded[name] = await client.upload_image(path.read_bytes(), path.name, overwrite=False)
    return uploaded


async def _check_images(client, workflow: Workflow, prompt: dict) -> list[str]:
    """Return a problem for each ``image`` parameter naming no file of the engine's input folder."""
    problems = []
    for name, spec in workflow.params.items():
        if spec.type != "image":
            continue
        value = prompt[spec.node]["inputs"][spec.input]
        if isinstance(value, list):
            continue  # a link
        if str(value).startswith(("/", "~", "./", "../")):
            # Meant as a local file (engine names are relative), but _upload_local_images found no image there.
            problems.append(f"parameter '{name}' = {value!r} is neither a local image file nor an image in the "
                            "engine's input folder (no PNG, JPEG, GIF, BMP or WebP file at that path)")
            continue
        if "/" in str(value):
            continue  # a file in a subfolder of the input folder: the engine's listing holds top-level files only
        # Asked afresh each time: an upload made a moment ago is not in any cached listing.
        info = (await client.object_info(prompt[spec.node]["class_type"])).get(prompt[spec.node]["class_type"], {})
        options = combo_options(_input_spec(info, spec.input) or [])
        if options is None or value in options:
            continue
        problems.append(f"parameter '{name}' = {value!r} is neither a local image file nor an image in the engine's "
                        "input folder" + _did_you_mean(value, [str(option) for option in options])
                        + f"; give the path of a PNG (it is uploaded) or upload one first (workflow "
                        f"'{workflow.name}')")
    return problems
