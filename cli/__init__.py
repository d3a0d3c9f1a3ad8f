"""The ``dgx-pixels`` command: ``main`` gathers one module per command group; each parses, calls engine/, ops/
or export/, and prints."""
