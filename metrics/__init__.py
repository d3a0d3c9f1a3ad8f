"""Prometheus metrics: the in-engine /metrics hook and the remote exporter."""
