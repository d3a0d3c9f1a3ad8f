"""The one async client of a ComfyUI engine's HTTP/WebSocket API.

Shared by the CLI, the MCP bridge, the metrics exporter and the tests. It opens the WebSocket before it posts a
prompt (the engine sends execution messages only to the submitting client), chooses its own UUID ``prompt_id``,
and treats the engine's final ``executing {node: null}`` as completion, falling back to ``/history``.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp


class EngineClientError(RuntimeError):
    """Base class of the errors this client raises."""


class EngineUnreachable(EngineClientError):
    """The engine did not answer at its URL."""


class PromptValidationError(EngineClientError):
    """POST /prompt answered 400. ``node_errors`` maps node id → {class_type, errors[{type, message, details}]}."""

    def __init__(self, error: dict, node_errors: dict):
        self.error = error or {}
        self.node_errors = node_errors or {}
        lines = [self.error.get("message", "prompt rejected")]
        for node_id, info in self.node_errors.items():
            for err in info.get("errors", []):
                where = f"node {node_id} ({info.get('class_type', '?')})"
                input_name = (err.get("extra_info") or {}).get("input_name")
                if input_name:
                    where += f" input '{input_name}'"
                lines.append(f"{where}: {err.get('message', '')} {err.get('details', '')}".rstrip())
        super().__init__("\n".join(lines))


class ExecutionFailed(EngineClientError):
    """The prompt started but a node raised. Names the node id, its class and the exception."""

    def __init__(self, prompt_id: str, data: dict):
        self.prompt_id = prompt_id
        self.node_id = data.get("node_id")
        self.node_type = data.get("node_type")
        self.exception_type = data.get("exception_type")
        self.exception_message = (data.get("exception_message") or "").strip()
        super().__init__(f"node {self.node_id} ({self.node_type}) failed: "
                         f"{self.exception_type}: {self.exception_message}")


class ExecutionInterrupted(EngineClientError):
    """The prompt was interrupted before it finished."""


class PromptTimeout(EngineClientError):
    """Waiting took longer than allowed. The job goes on in the engine; ``prompt_id`` finds it later."""

    def __init__(self, prompt_id: str, timeout_s: float):
        self.prompt_id = prompt_id
        super().__init__(f"prompt {prompt_id} did not finish within {timeout_s:.0f} s; it may still be running")


@dataclass
class OutputFile:
    """One file a node wrote, as /view addresses it."""

    node_id: str
    filename: str
    subfolder: str
    type: str


@dataclass
class PromptResult:
    """What a finished prompt produced."""

    prompt_id: str
    outputs: dict[str, dict]
    cached_nodes: list[str] = field(default_factory=list)

    def files(self, kind: str = "images") -> list[OutputFile]:
        """Return the files under ``kind`` ("images", "gifs", ...) of every output node, in node order."""
        found = []
        for node_id, output in self.outputs.items():
            for item in output.get(kind, []) or []:
                if isinstance(item, dict) and "filename" in item:
                    found.append(OutputFile(node_id, item["filename"], item.get("subfolder", ""),
                                            item.get("type", "output")))
        return found


ProgressCallback = Callable[[float, str], Awaitable[None] | None]


class EngineClient:
    """Async client of one engine. Use as ``async with EngineClient(url) as client:``."""

    def __init__(self, url: str = "http://127.0.0.1:8188", *, request_timeout_s: float = 30.0):
        self.url = url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self.request_timeout_s = request_timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> EngineClient:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.request_timeout_s))
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise EngineClientError("EngineClient used outside `async with`")
        return self._session

    async def _request(self, method: str, path: str, **kwargs) -> aiohttp.ClientResponse:
        try:
            return await self.session.request(method, self.url + path, **kwargs)
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise EngineUnreachable(f"engine at {self.url} did not answer {method} {path}: {exc}") from exc

    async def get_json(self, path: str) -> Any:
        """GET ``path`` and return its JSON; raises EngineClientError on a non-200 answer."""
        response = await self._request("GET", path)
        async with response:
            if response.status != 200:
                raise EngineClientError(f"GET {path} answered {response.status}: {(await response.text())[:300]}")
            return await response.json()

    async def system_stats(self) -> dict:
        return await self.get_json("/system_stats")

    async def object_info(self, node_class: str | None = None) -> dict:
        return await self.get_json("/object_info" + (f"/{node_class}" if node_class else ""))

    async def history(self, prompt_id: str) -> dict | None:
        """Return the history entry of ``prompt_id``, or None while the engine has none."""
        return (await self.get_json(f"/history/{prompt_id}")).get(prompt_id)

    async def queue_prompt(self, prompt: dict, prompt_id: str | None = None) -> str:
        """POST an API-format prompt; return its prompt_id. Raises PromptValidationError on a 400."""
        prompt_id = prompt_id or str(uuid.uuid4())
        response = await self._request("POST", "/prompt",
                                       json={"prompt": prompt, "client_id": self.client_id, "prompt_id": prompt_id})
        async with response:
            body = await response.json(content_type=None)
            if response.status == 400:
                raise PromptValidationError(body.get("error", {}), body.get("node_errors", {}))
            if response.status != 200:
                raise EngineClientError(f"POST /prompt answered {response.status}: {str(body)[:300]}")
            return body.get("prompt_id", prompt_id)

    async def run(self, prompt: dict, *, timeout_s: float = 600.0,
                  on_progress: ProgressCallback | None = None) -> PromptResult:
        """Queue ``prompt``, wait until it finishes and return its outputs.

        Raises PromptValidationError, ExecutionFailed, ExecutionInterrupted or PromptTimeout (which keeps the id).
        """
        ws_url = self.url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        try:
            ws = await self.session.ws_connect(ws_url, heartbeat=20, timeout=aiohttp.ClientWSTimeout(ws_close=5))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise EngineUnreachable(f"cannot open the engine's WebSocket at {ws_url}: {exc}") from exc
        async with ws:
            prompt_id = await self.queue_prompt(prompt)
            try:
                cached = await asyncio.wait_for(self._follow(ws, prompt_id, on_progress), timeout_s)
            except asyncio.TimeoutError:
                raise PromptTimeout(prompt_id, timeout_s) from None
        entry = await self._history_when_written(prompt_id)
        return PromptResult(prompt_id, entry.get("outputs", {}), cached)

    async def _follow(self, ws: aiohttp.ClientWebSocketResponse, prompt_id: str,
                      on_progress: ProgressCallback | None) -> list[str]:
        cached: list[str] = []
        best = 0.0
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
                continue  # binary frames are previews
            event = message.json()
            kind, data = event.get("type"), event.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if kind == "execution_cached":
                cached = list(data.get("nodes", []))
            elif kind == "progress" and on_progress and data.get("max"):
                best = max(best, float(data["value"]) / float(data["max"]))
                outcome = on_progress(best, f"node {data.get('node')}")
                if asyncio.iscoroutine(outcome):
                    await outcome
            elif kind == "execution_error":
                raise ExecutionFailed(prompt_id, data)
            elif kind == "execution_interrupted":
                raise ExecutionInterrupted(f"prompt {prompt_id} was interrupted at node {data.get('node_id')}")
            elif kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return cached
        # The socket closed early: the history entry is the authority on what happened.
        entry = await self._history_when_written(prompt_id, wait_s=None)
        status = entry.get("status", {})
        if status.get("status_str") == "error":
            for name, payload in status.get("messages", []):
                if name == "execution_error":
                    raise ExecutionFailed(prompt_id, payload)
            raise ExecutionFailed(prompt_id, {})
        return cached

    async def _history_when_written(self, prompt_id: str, wait_s: float | None = 30.0) -> dict:
        # execution_success is sent before history is written; poll briefly (or forever when wait_s is None).
        loop = asyncio.get_running_loop()
        deadline = None if wait_s is None else loop.time() + wait_s
        while True:
            entry = await self.history(prompt_id)
            if entry is not None:
                return entry
            if deadline is not None and loop.time() > deadline:
                raise EngineClientError(f"prompt {prompt_id} finished but the engine wrote no history for it")
            await asyncio.sleep(0.25)

    async def download(self, file: OutputFile) -> bytes:
        """Return the bytes of an output file through /view."""
        response = await self._request("GET", "/view", params={"filename": file.filename, "subfolder": file.subfolder,
                                                               "type": file.type})
        async with response:
            if response.status != 200:
                raise EngineClientError(f"/view of {file.filename} answered {response.status}")
            return await response.read()

    async def upload_image(self, data: bytes, filename: str, *, subfolder: str = "",
                           overwrite: bool = False) -> str:
        """Upload an image into the engine's input folder; return the name to use in a LoadImage node."""
        form = aiohttp.FormData()
        form.add_field("image", data, filename=filename, content_type="image/png")
        form.add_field("type", "input")
        form.add_field("subfolder", subfolder)
        form.add_field("overwrite", "true" if overwrite else "false")
        response = await self._request("POST", "/upload/image", data=form)
        async with response:
            if response.status != 200:
                raise EngineClientError(f"upload of {filename} answered {response.status}: {await response.text()}")
            body = await response.json()
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]
