"""The pack's own counters, for its nodes to call: ``from ..metrics.counters import count_palette_applied``.

They count into the engine's metrics when the hook is installed and into a private registry otherwise (unit tests,
the CLI), so calling them is always safe and never raises. Import them relatively, so that the nodes and the hook
share one module instance.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def _metrics():
    from .hook import engine_metrics

    return engine_metrics()


def _count(name: str, n: int) -> None:
    if n <= 0:
        return
    try:
        getattr(_metrics(), name).inc(n)
    except Exception:  # counting must never break a node
        log.debug("could not count %s", name, exc_info=True)


def count_sprites_exported(n: int = 1) -> None:
    """Add ``n`` sprites written by an exporter node."""
    _count("sprites_exported", n)


def count_palette_applied(n: int = 1) -> None:
    """Add ``n`` palette applications (one per image of a batch)."""
    _count("palettes_applied", n)


def count_lora_loaded(n: int = 1) -> None:
    """Add ``n`` LoRAs loaded."""
    _count("loras_loaded", n)
