"""What a load run's results mean: the comparison with a baseline (Mann-Whitney U and bootstrap
confidence intervals), thresholds, fairness between organizations, the gateway's overhead, the
stress knee, baselines, exports and the regression incident. See docs/loadtesting.md, "Results,
baselines and regressions".

The modules import Django models; importing this package requires a configured Django.
"""

from __future__ import annotations

from omni.loadtest.analysis.alerts import notify_verdict
from omni.loadtest.analysis.baselines import (
    BaselineError,
    baseline_for,
    baseline_of_run,
    default_name,
    save_baseline,
)
from omni.loadtest.analysis.compare import compare
from omni.loadtest.analysis.exports import report_csv, report_json
from omni.loadtest.analysis.fairness import fairness, jain_index
from omni.loadtest.analysis.knee import knee
from omni.loadtest.analysis.overhead import overhead
from omni.loadtest.analysis.runs import analyse_run
from omni.loadtest.analysis.thresholds import ThresholdError, check_thresholds

__all__ = [
    "BaselineError",
    "ThresholdError",
    "analyse_run",
    "baseline_for",
    "baseline_of_run",
    "check_thresholds",
    "compare",
    "default_name",
    "fairness",
    "jain_index",
    "knee",
    "notify_verdict",
    "overhead",
    "report_csv",
    "report_json",
    "save_baseline",
]
