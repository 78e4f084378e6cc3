"""The gateway's overhead: the same load through the gateway (the run's "main" phase) and sent to
the server alone (its "direct" phase). Added latency is the difference of the percentiles (ms);
the throughput ratio is gateway ÷ direct (1.0: the gateway costs no throughput)."""

from __future__ import annotations

from typing import Any

PERCENTILES = ("p50", "p95", "p99")


def _added(main: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    main_lat, direct_lat = main.get("latency_ms") or {}, direct.get("latency_ms") or {}
    out: dict[str, Any] = {}
    for key in PERCENTILES:
        m, d = main_lat.get(key), direct_lat.get(key)
        out[f"{key}_ms"] = {
            "gateway": m,
            "direct": d,
            "added": None if m is None or d is None else round(m - d, 3),
        }
    m_thr, d_thr = main.get("throughput"), direct.get("throughput")
    out["throughput"] = {
        "gateway": m_thr,
        "direct": d_thr,
        "ratio": round(m_thr / d_thr, 4) if m_thr is not None and d_thr else None,
    }
    return out


def overhead(main_report: dict[str, Any], direct_report: dict[str, Any]) -> dict[str, Any]:
    """``{"overall": {...}, "operations": {label: {...}}}``, each with ``p50_ms``/``p95_ms``/
    ``p99_ms`` as ``{gateway, direct, added}`` and ``throughput`` as ``{gateway, direct, ratio}``."""
    main_ops = main_report.get("operations") or {}
    direct_ops = direct_report.get("operations") or {}
    return {
        "overall": _added(main_report, direct_report),
        "operations": {
            label: _added(main_ops[label], direct_ops[label])
            for label in sorted(set(main_ops) & set(direct_ops))
        },
    }
