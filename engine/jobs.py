"""Jobs of the MCP bridge: prompts followed in the background so a tool call can return after a bounded wait and
the job be picked up later, by id, even after the bridge forgot it (the engine's queue and history are asked)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .client import (
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    UNKNOWN,
    EngineClient,
    EngineClientError,
    ExecutionFailed,
    ExecutionInterrupted,
    PromptResult,
    PromptTimeout,
    EngineBalancer,
    Submission,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LOST = "lost"
FINAL_STATES = (DONE, FAILED, INTERRUPTED, LOST)


class JobNotFound(LookupError):
    """No engine knows the job id."""


def check_job_id(job_id: str) -> str:
    """Return ``job_id`` if it is a lowercase UUID (the form prompt ids take); raise ValueError otherwise.

    Job ids become folder names under the results root, so nothing else may pass.
    """
    if not isinstance(job_id, str) or not UUID_RE.match(job_id):
        raise ValueError(f"{job_id!r} is not a job id (a lowercase UUID such as the ones generate returns)")
    return job_id


@dataclass
class SavedFile:
    """An output downloaded into the results folder."""

    path: Path
    filename: str
    node_id: str
    bytes: int
    sha256: str
    width: int | None = None
    height: int | None = None

    def describe(self) -> dict:
        return {"path": str(self.path), "filename": self.filename, "node_id": self.node_id, "bytes": self.bytes,
                "sha256": self.sha256, "width": self.width, "height": self.height}


@dataclass
class Job:
    """One prompt as the bridge follows it."""

    job_id: str
    engine_url: str
    workflow: str = ""
    status: str = PENDING
    progress: float = 0.0
    message: str = "queued"
    error: str | None = None
    files: list[SavedFile] = field(default_factory=list)
    from_cache: bool = False
    seed: int | None = None  # the seed it was drawn with, when the bridge set one (reported: a left-out seed is random)
    notes: list[str] = field(default_factory=list)  # defaults the bridge replaced (a missing model...)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    task: asyncio.Task | None = field(default=None, repr=False)
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def describe(self) -> dict:
        """Return the job as JSON-able metadata (status, progress, seed, notes, files once done...)."""
        out = {"job_id": self.job_id, "status": self.status, "progress": round(self.progress, 4),
               "message": self.message, "engine": self.engine_url, "workflow": self.workflow}
        if self.error:
            out["error"] = self.error
        if self.seed is not None:
            out["seed"] = self.seed
        if self.notes:
            out["notes"] = list(self.notes)
        if self.status == DONE:
            out["files"] = [f.describe() for f in self.files]
            out["from_cache"] = self.from_cache
        if self.finished:
            out["seconds"] = round(self.finished - self.created, 3)
        return out

    def _update(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        self.changed.set()


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # not an image (json, a sheet's metadata...): sizes stay unknown
        return None, None


class JobManager:
    """Submits prompts to the least-loaded of ``engine_urls``, follows them and keeps their outputs.

    Outputs are downloaded into ``results_dir/<job_id>/``. ``run_timeout_s`` bounds how long a job is followed.
    """

    def __init__(self, engine_urls: list[str], results_dir: Path, *, run_timeout_s: float = 3600.0,
                 client_options: dict | None = None):
        if not engine_urls:
            raise ValueError("at least one engine URL is needed")
        self.engine_urls = [url.rstrip("/") for url in engine_urls]
        self.results_dir = Path(results_dir)
        self.run_timeout_s = run_timeout_s
        self.client_options = client_options or {}
        self.jobs: dict[str, Job] = {}
        self._clients: dict[str, EngineClient] = {}
        # Counts this manager's own jobs per engine, so concurrent submissions do not all pick the same engine.
        self.balancer = EngineBalancer(self.engine_urls)

    async def client(self, url: str) -> EngineClient:
        """Return the shared client of the engine at ``url`` (opened on first use)."""
        if url not in self._clients:
            client = EngineClient(url, **self.client_options)
            await client.__aenter__()
            self._clients[url] = client
        return self._clients[url]

    async def close(self) -> None:
        for job in self.jobs.values():
            if job.task and not job.task.done():
                job.task.cancel()
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def choose_engine(self, *, reserve: bool = True) -> str:
        """Return the URL of the least-loaded engine, counting this manager's jobs on each besides its queue.

        With ``reserve`` the choice counts as one more job there until ``submit`` queues on it (or
        ``release_engine``), so the next concurrent choice goes elsewhere. Raises EngineUnreachable."""
        return await self.balancer.choose(reserve=reserve)

    def release_engine(self, url: str) -> None:
        """Give back a reservation of ``choose_engine`` that will not be submitted (preparing the job failed)."""
        self.balancer.release(url)

    async def submit(self, prompt: dict, *, workflow: str = "", engine_url: str | None = None,
                     seed: int | None = None, notes: list[str] | None = None) -> Job:
        """Queue ``prompt`` and follow it in the background; return the job at once (raises like ``run`` on 400).

        ``seed`` and ``notes`` are carried on the job for its reports."""
        url = engine_url or await self.choose_engine()
        try:
            client = await self.client(url)
            submission = await client.submit(prompt)
        except BaseException:
            self.balancer.release(url)
            raise
        # Counted from here until _follow ends; the reservation it came with is used up.
        self.balancer.queued(url, submission.prompt_id)
        job = Job(submission.prompt_id, url, workflow, seed=seed, notes=list(notes or []))
        self.jobs[job.job_id] = job
        job.task = asyncio.create_task(self._follow(client, job, submission, list(prompt)))
        return job

    def new_local_job(self, workflow: str) -> Job:
        """Return a job the bridge runs itself (no engine), such as a sheet built by animate; it is pending until
        ``finish_local_job``."""
        import uuid

        job = Job(str(uuid.uuid4()), "", workflow, status=RUNNING, message="working")
        self.jobs[job.job_id] = job
        return job

    def finish_local_job(self, job: Job, paths: list[Path]) -> None:
        """Mark a local job done with the files it wrote into its results folder."""
        files = []
        for path in paths:
            data = path.read_bytes()
            width, height = _image_size(data)
            files.append(SavedFile(path, path.name, "", len(data), hashlib.sha256(data).hexdigest(), width, height))
        job._update(status=DONE, progress=1.0, message="done", files=files, finished=time.time())

    async def _follow(self, client: EngineClient, job: Job, submission: Submission, node_ids: list[str]) -> None:
        def progress(fraction: float, message: str) -> None:
            job._update(progress=fraction, message=message, status=RUNNING)

        try:
            result = await client.wait(job.job_id, timeout_s=self.run_timeout_s, on_progress=progress,
                                       node_ids=node_ids, client_id=submission.client_id, ws=submission.ws)
            files = await self._save(client, job, result)
            job._update(status=DONE, progress=1.0, message="done", files=files, from_cache=result.from_cache,
                        finished=time.time())
        except ExecutionFailed as exc:
            job._update(status=FAILED, error=str(exc), message="failed", finished=time.time())
        except ExecutionInterrupted as exc:
            job._update(status=INTERRUPTED, error=str(exc), message="interrupted", finished=time.time())
        except PromptTimeout:
            # No longer followed here; job_status asks the engine from now on.
            self.jobs.pop(job.job_id, None)
            job._update(message="still running in the engine; no longer followed by the bridge")
        except EngineClientError as exc:  # JobLost, or the engine gone longer than the reconnect window
            job._update(status=LOST, error=str(exc), message="lost", finished=time.time())
        except Exception as exc:  # an unexpected answer must still end the job visibly
            job._update(status=FAILED, error=f"{type(exc).__name__}: {exc}", finished=time.time())
        finally:
            # Also when cancelled (removed from the queue) or no longer followed (the engine's queue lists it then).
            self.balancer.finished(job.engine_url, job.job_id)

    async def _save(self, client: EngineClient, job: Job, result: PromptResult) -> list[SavedFile]:
        target = self.results_dir / check_job_id(job.job_id)
        target.mkdir(parents=True, exist_ok=True)
        saved = []
        for kind in ("images", "gifs", "files"):
            for index, file in enumerate(result.files(kind)):
                data = await client.download(file)
                name = Path(file.filename).name or f"output_{index}"
                path = target / name
                path.write_bytes(data)
                width, height = _image_size(data)
                saved.append(SavedFile(path, name, file.node_id, len(data), hashlib.sha256(data).hexdigest(),
                                       width, height))
        return saved

    async def wait(self, job_id: str, wait_s: float, on_change=None) -> Job:
        """Wait up to ``wait_s`` for the job to end; return it as it is then. ``on_change(job)`` sees updates."""
        job = await self.get(job_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait_s, 0.0)
        while job.status not in FINAL_STATES and loop.time() < deadline:
            if job.task is None or job.task.done():
                # Not followed by this bridge (picked up by id): ask the engine again shortly.
                await asyncio.sleep(min(1.0, max(deadline - loop.time(), 0.0)))
                if self.jobs.get(job_id) is job:
                    self.jobs.pop(job_id)
                job = await self.get(job_id)
                continue
            job.changed.clear()
            try:
                await asyncio.wait_for(job.changed.wait(), deadline - loop.time())
            except asyncio.TimeoutError:
                break
            if on_change is not None:
                outcome = on_change(job)
                if asyncio.iscoroutine(outcome):
                    await outcome
        return job

    async def get(self, job_id: str) -> Job:
        """Return the job, asking the engines about ids the bridge does not follow; raise JobNotFound."""
        check_job_id(job_id)
        if job_id in self.jobs:
            return self.jobs[job_id]
        for url in self.engine_urls:
            try:
                client = await self.client(url)
                state = await client.job_state(job_id)
            except EngineClientError:
                continue
            if state == UNKNOWN:
                continue
            job = Job(job_id, url, status=state, message=state)
            if state == DONE:
                result = await client.result(job_id)
                job.files = await self._save(client, job, result)
                job.from_cache = result.from_cache
                job.progress = 1.0
            elif state in (FAILED, INTERRUPTED):
                try:
                    if await client.result(job_id) is None:
                        job.error = "cancelled before it started (removed from the queue)"
                except EngineClientError as exc:
                    job.error = str(exc)
            if state in FINAL_STATES:
                self.jobs[job_id] = job
            return job
        raise JobNotFound(f"no engine ({', '.join(self.engine_urls)}) knows job {job_id}: it never existed, or the "
                          "engine restarted and forgot it")

    async def cancel(self, job_id: str) -> Job:
        """Cancel the job (queue delete when pending, interrupt when running); return it in its final state."""
        job = await self.get(job_id)
        if job.status in FINAL_STATES:
            return job
        client = await self.client(job.engine_url)
        state = await client.cancel(job_id)
        if state == PENDING and job.task is not None:
            job.task.cancel()
            job._update(status=INTERRUPTED, message="removed from the queue", error="cancelled before it started",
                        finished=time.time())
            return job
        return await self.wait(job_id, 30.0)
