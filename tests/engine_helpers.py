"""Helpers shared by the engine tests (tests/ is on sys.path, see tests/conftest.py)."""

from __future__ import annotations

import subprocess
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def stop_process(process: subprocess.Popen, timeout_s: float = 10) -> None:
    """Terminate ``process``; kill it if it has not exited within ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout_s)


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Return every sample of the engine's /metrics as {(name, sorted labels): value}."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)
