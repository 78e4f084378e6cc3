"""Downstream server status: probes, passive signals, badges and uptime (docs/monitoring.md)."""
