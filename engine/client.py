"""The one async client of a ComfyUI engine's HTTP/WebSocket API.

Shared by the CLI, the MCP bridge, the metrics exporter and the tests. Each ``run`` opens its own WebSocket (with its
own ``client_id``: the engine keeps one socket per id and sends execution messages only to the submitting one)
*before* it posts the prompt under a UUID ``prompt_id`` it chose itself. Completion is the engine's final
``executing {node: null}``; ``/history`` is the fallback whenever the socket is quiet or drops, and a dropped socket
is reopened. Every wait is bounded: a job ends as done, failed, interrupted, lost, or a ``PromptTimeout`` that keeps
the id so the job can be picked up later.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Collection, Iterable, Mapping

import aiohttp


DEFAULT_ENGINE = "http://127.0.0.1:8188"


def default_engines() -> list[str]:
    """Return the engine URLs of ``$DGX_PIXELS_ENGINE`` (comma-separated), else the local default."""
    raw = os.environ.get("DGX_PIXELS_ENGINE", "")
    return [url.strip() for url in raw.split(",") if url.strip()] or [DEFAULT_ENGINE]


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
    """The prompt was interrupted (or deleted from the queue) before it finished."""

    def __init__(self, message: str, prompt_id: str | None = None):
        self.prompt_id = prompt_id
        super().__init__(message)


class PromptTimeout(EngineClientError):
    """Waiting took longer than allowed. The job goes on in the engine; ``prompt_id`` finds it later."""

    def __init__(self, prompt_id: str, timeout_s: float):
        self.prompt_id = prompt_id
        super().__init__(f"prompt {prompt_id} did not finish within {timeout_s:.0f} s; it may still be running")


class JobLost(EngineClientError):
    """The engine answers but knows nothing of the prompt (it restarted, or its history was cleared)."""

    def __init__(self, prompt_id: str, why: str = "the engine neither queues it nor has its history"):
        self.prompt_id = prompt_id
        super().__init__(f"prompt {prompt_id} is lost: {why}; submit it again")


@dataclass
class OutputFile:
    """One file a node wrote, as /view addresses it."""

    node_id: str
    filename: str
    subfolder: str
    type: str


@dataclass
class PromptResult:
    """What a finished prompt produced. ``cached_nodes`` are the nodes the engine served from its cache."""

    prompt_id: str
    outputs: dict[str, dict]
    cached_nodes: list[str] = field(default_factory=list)
    engine_url: str = ""

    def files(self, kind: str = "images", *, include_temp: bool = False) -> list[OutputFile]:
        """Return the files under ``kind`` ("images", "gifs", ...) of every output node, in node order: only the
        workflow's results (type "output"), or with ``include_temp`` also the previews the engine keeps in its temp
        folder (PreviewImage, PixelPreview and nodes that show a preview of their own)."""
        found = []
        for node_id, output in self.outputs.items():
            for item in output.get(kind, []) or []:
                if isinstance(item, dict) and "filename" in item:
                    file = OutputFile(node_id, item["filename"], item.get("subfolder", ""), item.get("type", "output"))
                    if include_temp or file.type == "output":
                        found.append(file)
        return found

    @property
    def from_cache(self) -> bool:
        """True when every output node was served from the engine's cache (an identical prompt ran before)."""
        return bool(self.outputs) and set(self.outputs) <= set(self.cached_nodes)


@dataclass
class Submission:
    """A queued prompt and the open socket that receives its events (pass both to ``EngineClient.wait``)."""

    prompt_id: str
    client_id: str
    ws: aiohttp.ClientWebSocketResponse


ProgressCallback = Callable[[float, str], Awaitable[None] | None]

# Job states, as job_state() reports them.
PENDING, RUNNING, DONE, FAILED, INTERRUPTED, UNKNOWN = "pending", "running", "done", "failed", "interrupted", "unknown"


class ProgressTracker:
    """Merges ``executing``, ``progress``, ``progress_state`` and ``execution_cached`` into one fraction 0..1.

    Each node of the prompt weighs the same; a finished or cached node counts 1, a running node its value/max.
    The fraction never goes backwards (events of sub-graphs and re-sent states can), and stays below 1 until
    ``finish()``.
    """

    def __init__(self, node_ids: Iterable[str]):
        self.node_ids = {str(n) for n in node_ids}
        self.done: set[str] = set()
        self.partial: dict[str, float] = {}
        self.current: str | None = None
        self.fraction = 0.0
        self.message = "queued"

    def _node(self, data: dict) -> str | None:
        node = data.get("display_node_id") or data.get("node_id") or data.get("node")
        return None if node is None else str(node)

    def feed(self, kind: str, data: dict) -> bool:
        """Apply one WebSocket event; return True when the fraction grew (or the message changed)."""
        before = (self.fraction, self.message)
        if kind == "execution_start":
            self.message = "started"
        elif kind == "execution_cached":
            self.done |= {str(n) for n in data.get("nodes", [])}
        elif kind == "executing":
            node = self._node(data)
            if self.current is not None and self.current != node:
                self.done.add(self.current)
            self.current = node
            if node is not None:
                self.message = f"node {node}"
        elif kind == "executed":
            node = self._node(data)
            if node is not None:
                self.done.add(node)
        elif kind == "progress" and data.get("max"):
            node = self._node(data)
            if node is not None:
                self.partial[node] = max(self.partial.get(node, 0.0), float(data["value"]) / float(data["max"]))
                self.message = f"node {node}: step {data['value']}/{data['max']}"
        elif kind == "progress_state":
            for node_id, state in (data.get("nodes") or {}).items():
                node = str(state.get("display_node_id") or node_id)
                if state.get("state") == "finished":
                    self.done.add(node)
                elif state.get("max"):
                    self.partial[node] = max(self.partial.get(node, 0.0),
                                             float(state.get("value", 0)) / float(state["max"]))
        total = max(len(self.node_ids), 1)
        known = self.node_ids or (self.done | set(self.partial))
        score = sum(1.0 if n in self.done else min(self.partial.get(n, 0.0), 1.0) for n in known)
        self.fraction = max(self.fraction, min(score / total, 0.99))
        return (self.fraction, self.message) != before

    def finish(self) -> None:
        self.fraction, self.message = 1.0, "done"


async def _call(callback: ProgressCallback | None, fraction: float, message: str) -> None:
    if callback is None:
        return
    outcome = callback(fraction, message)
    if asyncio.iscoroutine(outcome):
        await outcome


class EngineClient:
    """Async client of one engine. Use as ``async with EngineClient(url) as client:``.

    ``request_timeout_s`` bounds each HTTP request, ``connect_timeout_s`` each connection attempt,
    ``poll_interval_s`` how long the socket may stay quiet before ``/history`` is asked, and
    ``reconnect_window_s`` how long a vanished engine is waited for before the job is reported lost.
    """

    def __init__(self, url: str = "http://127.0.0.1:8188", *, request_timeout_s: float = 30.0,
                 connect_timeout_s: float = 5.0, poll_interval_s: float = 5.0, reconnect_window_s: float = 60.0):
        self.url = url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.poll_interval_s = poll_interval_s
        self.reconnect_window_s = reconnect_window_s
        self._session: aiohttp.ClientSession | None = None
        # The engine drops a pending prompt deleted from its queue without a trace (no history entry): the ids this
        # client removed are remembered so their state reads "interrupted", not "unknown".
        self.cancelled: set[str] = set()

    async def __aenter__(self) -> EngineClient:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
            total=self.request_timeout_s, sock_connect=self.connect_timeout_s))
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

    async def get_json(self, path: str, **params: str) -> Any:
        """GET ``path`` and return its JSON; raises EngineClientError on a non-200 answer."""
        response = await self._request("GET", path, params=params or None)
        async with response:
            if response.status != 200:
                raise EngineClientError(f"GET {path} answered {response.status}: {(await response.text())[:300]}")
            try:
                return await response.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise EngineUnreachable(f"engine at {self.url} broke off GET {path}: {exc}") from exc

    async def _post(self, path: str, body: dict) -> None:
        response = await self._request("POST", path, json=body)
        async with response:
            if response.status != 200:
                raise EngineClientError(f"POST {path} answered {response.status}: {(await response.text())[:300]}")

    async def system_stats(self) -> dict:
        return await self.get_json("/system_stats")

    async def object_info(self, node_class: str | None = None) -> dict:
        return await self.get_json("/object_info" + (f"/{node_class}" if node_class else ""))

    async def models(self, folder: str | None = None) -> list[str]:
        """Return the model folders (``folder`` None) or the file names in one folder ("checkpoints", "loras").

        Raises EngineClientError naming the known folders when ``folder`` is not one.
        """
        if folder is None:
            return list(await self.get_json("/models"))
        response = await self._request("GET", f"/models/{folder}")
        async with response:
            if response.status == 404:
                raise EngineClientError(f"the engine has no model folder '{folder}'; it has: "
                                        + ", ".join(await self.models()))
            if response.status != 200:
                raise EngineClientError(f"GET /models/{folder} answered {response.status}")
            return list(await response.json(content_type=None))

    async def history(self, prompt_id: str) -> dict | None:
        """Return the history entry of ``prompt_id``, or None while the engine has none."""
        return (await self.get_json(f"/history/{prompt_id}")).get(prompt_id)

    async def queue(self) -> dict[str, list[str]]:
        """Return ``{"running": [prompt_id...], "pending": [prompt_id...]}`` from GET /queue."""
        body = await self.get_json("/queue")
        return {"running": [item[1] for item in body.get("queue_running", [])],
                "pending": [item[1] for item in body.get("queue_pending", [])]}

    async def load(self) -> int:
        """Return how many prompts the engine has running or pending (0 for an idle engine)."""
        queue = await self.queue()
        return len(queue["running"]) + len(queue["pending"])

    async def queue_prompt(self, prompt: dict, prompt_id: str | None = None, *, client_id: str | None = None) -> str:
        """POST an API-format prompt; return its prompt_id. Raises PromptValidationError on a 400."""
        prompt_id = prompt_id or str(uuid.uuid4())
        response = await self._request("POST", "/prompt", json={
            "prompt": prompt, "client_id": client_id or self.client_id, "prompt_id": prompt_id})
        async with response:
            body = await response.json(content_type=None)
            if response.status == 400:
                raise PromptValidationError(body.get("error", {}), body.get("node_errors", {}))
            if response.status != 200:
                raise EngineClientError(f"POST /prompt answered {response.status}: {str(body)[:300]}")
            return body.get("prompt_id", prompt_id)

    # cancelling -----------------------------------------------------------------------------------------------

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """Interrupt the running prompt (only ``prompt_id`` when given, so another client's job is spared)."""
        await self._post("/interrupt", {"prompt_id": prompt_id} if prompt_id else {})

    async def delete_queued(self, prompt_ids: list[str]) -> None:
        """Remove prompts that have not started from the queue (running ones are untouched)."""
        await self._post("/queue", {"delete": list(prompt_ids)})

    async def cancel(self, prompt_id: str) -> str:
        """Cancel ``prompt_id`` wherever it is; return the state it was in (pending, running, done, ...).

        A pending prompt is removed from the queue; if it started meanwhile it is interrupted (and "running"
        returned)."""
        state = await self.job_state(prompt_id)
        if state == PENDING:
            await self.delete_queued([prompt_id])
            after = await self.job_state(prompt_id)
            if after == RUNNING:  # it left the queue for the sampler between the look and the delete
                await self.interrupt(prompt_id)
                return RUNNING
            if after == UNKNOWN:
                self.cancelled.add(prompt_id)
        elif state == RUNNING:
            await self.interrupt(prompt_id)
        return state

    async def job_state(self, prompt_id: str) -> str:
        """Return pending, running, done, failed, interrupted (also for a prompt this client removed from the
        queue) or unknown (the engine never heard of it)."""
        return (await self._state_and_entry(prompt_id))[0]

    async def _state_and_entry(self, prompt_id: str) -> tuple[str, dict | None]:
        """The job's state and, once it has ended, its history entry (saves asking /history twice)."""
        entry = await self.history(prompt_id)
        if entry is None:
            queue = await self.queue()
            if prompt_id in queue["running"]:
                return RUNNING, None
            if prompt_id in queue["pending"]:
                return PENDING, None
            # It may have finished between the two requests.
            entry = await self.history(prompt_id)
            if entry is None:
                return (INTERRUPTED if prompt_id in self.cancelled else UNKNOWN), None
        return self._state_of_entry(entry), entry

    @staticmethod
    def _state_of_entry(entry: dict) -> str:
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            names = {name for name, _ in status.get("messages", [])}
            return INTERRUPTED if "execution_interrupted" in names else FAILED
        return DONE

    # running --------------------------------------------------------------------------------------------------

    async def run(self, prompt: dict, *, timeout_s: float = 600.0, on_progress: ProgressCallback | None = None,
                  prompt_id: str | None = None) -> PromptResult:
        """Queue ``prompt``, wait until it finishes and return its outputs.

        Raises PromptValidationError (400), ExecutionFailed, ExecutionInterrupted, JobLost, EngineUnreachable
        (before the prompt was queued, or when the engine stays away longer than ``reconnect_window_s``) or
        PromptTimeout (which keeps the id).
        """
        submission = await self.submit(prompt, prompt_id)
        return await self.wait(submission.prompt_id, timeout_s=timeout_s, on_progress=on_progress,
                               node_ids=list(prompt), client_id=submission.client_id, ws=submission.ws)

    async def submit(self, prompt: dict, prompt_id: str | None = None) -> Submission:
        """Open a WebSocket of a fresh client id, then queue ``prompt`` under it; return both for ``wait``.

        Raises PromptValidationError on a 400 and EngineUnreachable when the engine does not answer.
        """
        client_id = uuid.uuid4().hex  # one per job: the engine keeps a single socket per client id
        ws = await self._open_ws(client_id)
        try:
            prompt_id = await self.queue_prompt(prompt, prompt_id, client_id=client_id)
        except BaseException:
            await ws.close()
            raise
        return Submission(prompt_id, client_id, ws)

    async def wait(self, prompt_id: str, *, timeout_s: float = 600.0, on_progress: ProgressCallback | None = None,
                   node_ids: Iterable[str] = (), client_id: str | None = None,
                   ws: aiohttp.ClientWebSocketResponse | None = None) -> PromptResult:
        """Wait for a queued prompt and return its outputs; the same errors as ``run``.

        Without the ``client_id`` that submitted it the engine sends no events, so the wait polls ``/history``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        tracker = ProgressTracker(node_ids)
        cached: list[str] = []
        outage_since: float | None = None
        try:
            while True:
                if loop.time() >= deadline:
                    raise PromptTimeout(prompt_id, timeout_s)
                try:
                    if ws is None and client_id is not None:
                        ws = await self._open_ws(client_id)
                    outage_since = None
                    if ws is not None:
                        outcome = await self._follow(ws, prompt_id, tracker, cached, on_progress, deadline)
                        if outcome == "dropped":
                            await ws.close()
                            ws = None  # reopened on the next turn, after /history was asked
                    else:
                        await asyncio.sleep(min(self.poll_interval_s, max(deadline - loop.time(), 0.0)))
                    state, entry = await self._state_and_entry(prompt_id)
                except EngineUnreachable:
                    outage_since = outage_since or loop.time()
                    if loop.time() - outage_since > self.reconnect_window_s:
                        raise
                    await asyncio.sleep(min(1.0, max(deadline - loop.time(), 0.0)))
                    continue
                if state == UNKNOWN:
                    raise JobLost(prompt_id)
                if entry is None and state == INTERRUPTED:
                    raise ExecutionInterrupted(f"prompt {prompt_id} was removed from the queue before it started",
                                               prompt_id)
                if state in (DONE, FAILED, INTERRUPTED):
                    result = self._result_of(prompt_id, entry, cached)
                    tracker.finish()
                    await _call(on_progress, 1.0, "done")
                    return result
        finally:
            if ws is not None:
                await ws.close()

    async def _open_ws(self, client_id: str) -> aiohttp.ClientWebSocketResponse:
        ws_url = self.url.replace("http", "ws", 1) + f"/ws?clientId={client_id}"
        try:
            return await asyncio.wait_for(
                self.session.ws_connect(ws_url, heartbeat=20, timeout=aiohttp.ClientWSTimeout(ws_close=5)),
                self.connect_timeout_s)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise EngineUnreachable(f"cannot open the engine's WebSocket at {ws_url}: {exc}") from exc

    async def _follow(self, ws: aiohttp.ClientWebSocketResponse, prompt_id: str, tracker: ProgressTracker,
                      cached: list[str], on_progress: ProgressCallback | None, deadline: float) -> str:
        """Read events until this prompt ends ("done"), the socket drops ("dropped") or stays quiet ("quiet")."""
        loop = asyncio.get_running_loop()
        while True:
            wait_s = min(self.poll_interval_s, deadline - loop.time())
            if wait_s <= 0:
                return "quiet"
            try:
                message = await ws.receive(timeout=wait_s)
            except asyncio.TimeoutError:
                return "quiet"  # /history decides (the end event may have been missed)
            except (aiohttp.ClientError, ConnectionError):
                return "dropped"
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR):
                return "dropped"
            if message.type != aiohttp.WSMsgType.TEXT:
                continue  # binary frames are previews
            event = message.json()
            kind, data = event.get("type"), event.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if kind == "execution_cached":
                cached[:] = [str(n) for n in data.get("nodes", [])]
            # execution_error / execution_interrupted come before the engine writes the history entry; the
            # closing "executing" event comes after it, so errors are read from /history and the job's state is
            # settled by the time run() raises.
            if kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return "done"
            if tracker.feed(kind, data):
                await _call(on_progress, tracker.fraction, tracker.message)

    def _result_of(self, prompt_id: str, entry: dict, cached: list[str]) -> PromptResult:
        status = entry.get("status") or {}
        messages = status.get("messages", [])
        if not cached:
            for name, payload in messages:
                if name == "execution_cached":
                    cached = [str(n) for n in payload.get("nodes", [])]
        if status.get("status_str") == "error":
            for name, payload in messages:
                if name == "execution_error":
                    raise ExecutionFailed(prompt_id, payload)
                if name == "execution_interrupted":
                    raise ExecutionInterrupted(f"prompt {prompt_id} was interrupted at node "
                                               f"{payload.get('node_id')}", prompt_id)
            raise ExecutionFailed(prompt_id, {"exception_message": "the engine reported an error without detail"})
        return PromptResult(prompt_id, entry.get("outputs", {}), cached, self.url)

    async def result(self, prompt_id: str) -> PromptResult | None:
        """Return the result of a finished prompt from /history (None while it has none); raises like ``run``."""
        entry = await self.history(prompt_id)
        return None if entry is None else self._result_of(prompt_id, entry, [])

    # files ----------------------------------------------------------------------------------------------------

    async def download(self, file: OutputFile) -> bytes:
        """Return the bytes of an output file through /view."""
        response = await self._request("GET", "/view", params={"filename": file.filename, "subfolder": file.subfolder,
                                                               "type": file.type})
        async with response:
            if response.status != 200:
                raise EngineClientError(f"/view of {file.filename} answered {response.status}")
            return await response.read()

    async def upload_image(self, data: bytes, filename: str, *, subfolder: str = "",
                           overwrite: bool = False, content_type: str = "image/png") -> str:
        """Upload a file (an image, or a palette for PaletteLoad) into the engine's input folder; return the name
        to use in a LoadImage node (``subfolder/name``). Raises EngineClientError when the engine refuses it."""
        form = aiohttp.FormData()
        form.add_field("image", data, filename=filename, content_type=content_type)
        form.add_field("type", "input")
        form.add_field("subfolder", subfolder)
        form.add_field("overwrite", "true" if overwrite else "false")
        response = await self._request("POST", "/upload/image", data=form)
        async with response:
            if response.status != 200:
                raise EngineClientError(f"upload of {filename} answered {response.status}: {await response.text()}")
            body = await response.json()
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    # metrics ---------------------------------------------------------------------------------------------------

    async def history_all(self, max_items: int | None = None) -> dict[str, dict]:
        """Return the engine's history, oldest first: all of it, or its newest ``max_items`` entries."""
        if max_items is None:
            return await self.get_json("/history")
        return await self.get_json("/history", max_items=str(max_items))


async def queued_ids(url: str, *, request_timeout_s: float = 5.0) -> set[str] | None:
    """Return the ids of the prompts running or pending on the engine at ``url``, or None when it does not answer."""
    try:
        async with EngineClient(url, request_timeout_s=request_timeout_s) as client:
            queue = await client.queue()
    except EngineClientError:
        return None
    return set(queue["running"]) | set(queue["pending"])


def _least(urls: list[str], queues: list[set[str] | None], ours: Mapping[str, Collection[str]] | None = None,
           extra: Mapping[str, int] | None = None) -> str:
    """The URL of the answering engine whose load is least (the first on ties). Its load is the union of the ids
    it reports and the ids ``ours`` says were queued there (counted once: a job of ours the engine already lists
    is no second job), plus ``extra`` choices not queued yet. Raises EngineUnreachable when none answered."""
    ours, extra = ours or {}, extra or {}
    answering = [(len(queue | set(ours.get(url, ()))) + extra.get(url, 0), index)
                 for index, (url, queue) in enumerate(zip(urls, queues)) if queue is not None]
    if not answering:
        raise EngineUnreachable(f"no engine answered: {', '.join(urls)}")
    return urls[min(answering)[1]]


async def least_loaded(urls: Iterable[str], *, request_timeout_s: float = 5.0) -> str:
    """Return the URL of the reachable engine with the fewest running + pending prompts (the first on ties).

    Raises EngineUnreachable naming every URL when none answers. For many concurrent submissions from one process
    use an ``EngineBalancer``: engines' queues read at the same moment all look alike.
    """
    urls = list(urls)
    if len(urls) == 1:
        return urls[0]
    queues = await asyncio.gather(*(queued_ids(url, request_timeout_s=request_timeout_s) for url in urls))
    return _least(urls, list(queues))


class EngineBalancer:
    """Chooses the engine for each prompt this process queues, so concurrent submissions spread evenly.

    An engine's reported queue says nothing of the prompts other coroutines of this process chose it for but have
    not posted yet (each reads the queue before any of them has queued: 18 concurrent jobs went 16/2). So the
    balancer also counts, per engine, the choices made and not yet queued ("placements", which lapse after
    ``placement_ttl_s`` should a caller never queue) and the prompts queued and not finished; choices are made
    under a lock. Call ``queued`` when a chosen prompt was posted, ``release`` when it will not be, ``finished``
    when a queued prompt has ended.
    """

    def __init__(self, urls: Iterable[str], *, request_timeout_s: float = 5.0, placement_ttl_s: float = 60.0):
        self.urls = [url.rstrip("/") for url in urls]
        if not self.urls:
            raise ValueError("at least one engine URL is needed")
        self.request_timeout_s = request_timeout_s
        self.placement_ttl_s = placement_ttl_s
        # A threading lock, not an asyncio one: the section it guards never awaits, and it also holds when a
        # caller shares the balancer between threads (each with its own loop).
        self._lock = threading.Lock()
        self._placements: dict[str, list[float]] = {url: [] for url in self.urls}
        self._in_flight: dict[str, set[str]] = {url: set() for url in self.urls}

    def _key(self, url: str) -> str:
        url = url.rstrip("/")
        self._placements.setdefault(url, [])
        self._in_flight.setdefault(url, set())
        return url

    def _live_placements(self, url: str, now: float) -> list[float]:
        alive = [at for at in self._placements[url] if now - at < self.placement_ttl_s]
        self._placements[url] = alive
        return alive

    async def choose(self, *, reserve: bool = True) -> str:
        """Return the URL of the least-loaded answering engine; with ``reserve`` it counts one more job there
        until ``queued`` or ``release`` (or the placement lapses). Raises EngineUnreachable when none answers."""
        if len(self.urls) == 1:
            queues: list[set[str] | None] = [set()]  # nothing to compare: no request
        else:
            # Read outside the lock (a slow engine must not hold up the others' choices); what was queued after
            # the read is in our own counts.
            queues = list(await asyncio.gather(*(queued_ids(url, request_timeout_s=self.request_timeout_s)
                                                 for url in self.urls)))
        with self._lock:
            now = time.monotonic()
            extra = {url: len(self._live_placements(url, now)) for url in self.urls}
            url = _least(self.urls, queues, self._in_flight, extra)
            if reserve:
                self._placements[url].append(now)
        return url

    def queued(self, url: str, prompt_id: str) -> None:
        """Count ``prompt_id`` as in flight on ``url`` and use up one placement there (if any was made)."""
        with self._lock:
            url = self._key(url)
            if self._placements[url]:
                self._placements[url].pop(0)
            self._in_flight[url].add(prompt_id)

    def release(self, url: str) -> None:
        """Drop one placement on ``url``: the prompt chosen for it will not be queued (it failed before)."""
        with self._lock:
            url = self._key(url)
            if self._placements[url]:
                self._placements[url].pop(0)

    def finished(self, url: str, prompt_id: str) -> None:
        """Stop counting ``prompt_id`` on ``url`` (it ended, was cancelled, or is no longer followed)."""
        with self._lock:
            self._in_flight[self._key(url)].discard(prompt_id)

    def load(self) -> dict[str, int]:
        """Return, per engine, this process's jobs there: queued and not finished, plus placements not queued yet."""
        with self._lock:
            now = time.monotonic()
            return {url: len(self._in_flight[url]) + len(self._live_placements(url, now)) for url in self._in_flight}
