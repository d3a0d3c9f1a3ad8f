"""Several engines behind one bridge: concurrent jobs are placed evenly, generate_batch answers like generate
(thumbnails, result links, progress), and list_models asks every engine.

A second real engine is started for this module (same ComfyUI folder, its own run folder and port) with one extra
checkpoint folder, so the two engines hold different models."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from fastmcp import Client

from dgx_pixels.engine.local import pick_free_port, start_engine
from dgx_pixels.mcp_bridge.server import MAX_INLINE_IMAGES, RESULT_SCHEME, build_server

pytestmark = pytest.mark.engine
TIMEOUT_S = 300.0
SECOND_ONLY = "dgx-pixels-second-only.safetensors"
UNREACHABLE = "http://127.0.0.1:9"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def second_engine(engine, tmp_path_factory):
    """A second engine whose checkpoints are the shared ones plus SECOND_ONLY (from an extra model folder)."""
    run_dir = tmp_path_factory.mktemp("second-engine")
    extra = run_dir / "extra-models" / "checkpoints"
    extra.mkdir(parents=True)
    (extra / SECOND_ONLY).symlink_to(engine.engine_dir / "models" / "checkpoints" / "dgx-pixels-tiny-sd15.safetensors")
    config = run_dir / "extra_model_paths.yaml"
    config.write_text(f"second:\n    base_path: {run_dir / 'extra-models'}\n    checkpoints: checkpoints\n")
    second = start_engine(port=pick_free_port(), engine_dir=engine.engine_dir, run_dir=run_dir, cpu=True,
                          extra_args=["--extra-model-paths-config", str(config)])
    try:
        yield second
    finally:
        second.stop()


@pytest.fixture
def quick_workflows(tmp_path):
    """A workflow without a model (EmptyImage → SaveImage) whose one parameter is the colour."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "placement/q"}}}
    (folder / "quick.api.json").write_text(json.dumps(prompt))
    (folder / "quick.params.json").write_text(json.dumps({
        "name": "quick", "workflow": "quick.api.json",
        "params": {"color": {"node": "1", "input": "color", "type": "int", "min": 0, "max": 16777215}}}))
    return [folder]


def test_concurrent_jobs_are_split_evenly_over_two_idle_engines(engine, second_engine, quick_workflows, tmp_path):
    """18 generate calls at once over 2 idle engines go 9/9 (±1): each call's choice counts the jobs this bridge
    already placed, not only the engines' queues (read by all 18 before any had queued: they went 16/2)."""
    urls = [engine.url, second_engine.url]
    mcp = build_server(urls, results_dir=tmp_path / "results", workflow_dirs=quick_workflows)
    colours = [0x100000 + 7919 * index for index in range(18)]  # all different: no job is served from the cache

    async def go():
        async with Client(mcp, timeout=TIMEOUT_S) as client:
            answers = await asyncio.gather(*(
                client.call_tool("generate", {"workflow": "quick", "params": {"color": colour}, "wait_s": 120})
                for colour in colours))
            placed = [answer.structured_content for answer in answers]
            assert [job["status"] for job in placed] == ["done"] * 18, placed
            counts = Counter(job["engine"] for job in placed)
            assert set(counts) <= set(urls)
            # 9/9 while nothing finishes; these jobs take milliseconds, so one that ends during the burst rightly
            # frees its engine for the next placement (11/7 seen on a busy machine). Reading queues alone gave 16/2.
            assert min(counts[engine.url], counts[second_engine.url]) >= 6, counts
            # Nothing of ours is counted any more once every job has ended.
            assert sum(mcp.bridge.manager.balancer.load().values()) == 0

    run(go())


def test_generate_batch_answers_with_thumbnails_links_and_progress(engine, second_engine, tiny_checkpoint,
                                                                   tmp_path):
    mcp = build_server([engine.url, second_engine.url], results_dir=tmp_path / "results", progress_interval_s=0)
    base = {"checkpoint": tiny_checkpoint, "steps": 1, "width": 64, "height": 64}
    sets = [dict(base) for _ in range(MAX_INLINE_IMAGES + 2)]  # more images than may go inline
    sets[0]["seed"] = 1234

    async def go():
        progress = []

        async def on_progress(value, total, message):
            progress.append(value)

        async with Client(mcp, timeout=TIMEOUT_S) as client:
            answer = await client.call_tool("generate_batch", {"param_sets": sets, "wait_s": 300},
                                            progress_handler=on_progress)
            jobs = answer.structured_content["jobs"]
            assert len(jobs) == len(sets) and [job["status"] for job in jobs] == ["done"] * len(sets), jobs
            assert jobs[0]["seed"] == 1234 and all(isinstance(job["seed"], int) for job in jobs)
            assert len({job["job_id"] for job in jobs}) == len(sets)
            kinds = Counter(block.type for block in answer.content)
            assert kinds["image"] == MAX_INLINE_IMAGES, kinds
            assert answer.structured_content["counts"] == {"done": len(sets)}
            assert {job["engine"] for job in jobs} == {engine.url, second_engine.url}, "a batch spreads"
            links = [str(block.uri) for block in answer.content if block.type == "resource_link"]
            uris = [file["uri"] for job in jobs for file in job["files"]]
            assert len(uris) == len(sets) and links == uris
            assert all(uri == f"{RESULT_SCHEME}/{job['job_id']}/{job['files'][0]['filename']}"
                       for uri, job in zip(uris, jobs))
            assert (await client.read_resource(uris[-1]))[0].blob, "the links resolve to the full files"
            assert progress and progress == sorted(progress) and progress[-1] == 100, progress

            # A batch left running answers with every job's id and seed, and the way to pick them up.
            pending = await client.call_tool("generate_batch", {"param_sets": [dict(base, steps=4)] * 2,
                                                                "wait_s": 0})
            waiting = pending.structured_content["jobs"]
            assert all(job["job_id"] and isinstance(job["seed"], int) for job in waiting)
            assert "get_result" in pending.content[0].text
            for job in waiting:
                done = await client.call_tool("get_result", {"job_id": job["job_id"], "wait_s": 120})
                assert done.structured_content["status"] == "done"

    run(go())


def test_list_models_asks_every_engine_and_says_which_has_what(engine, second_engine, tiny_checkpoint, tmp_path):
    # The unreachable engine comes first: it must not hide the others.
    urls = [UNREACHABLE, engine.url, second_engine.url]
    mcp = build_server(urls, results_dir=tmp_path)

    async def go():
        async with Client(mcp, timeout=TIMEOUT_S) as client:
            checkpoints = (await client.call_tool("list_models", {"folder": "checkpoints"})).structured_content
            folders = (await client.call_tool("list_models", {})).structured_content
        return checkpoints, folders

    checkpoints, folders = run(go())
    assert checkpoints["folder"] == "checkpoints"
    assert tiny_checkpoint in checkpoints["models"] and SECOND_ONLY in checkpoints["models"]
    assert checkpoints["where"][tiny_checkpoint] == [engine.url, second_engine.url]
    assert checkpoints["where"][SECOND_ONLY] == [second_engine.url]
    assert SECOND_ONLY not in checkpoints["engines"][engine.url]
    assert SECOND_ONLY in checkpoints["engines"][second_engine.url]
    assert list(checkpoints["unanswered"]) == [UNREACHABLE]
    assert "checkpoints" in folders["folders"] and list(folders["unanswered"]) == [UNREACHABLE]
    assert set(folders["engines"]) == {engine.url, second_engine.url}
