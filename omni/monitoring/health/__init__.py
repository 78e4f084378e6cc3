"""Health of the platform's processes: heartbeats (web, worker, beat), the last errors, the system
health page for operators (/ops/health/) and the in-process scheduler of the embedded default."""
