"""Load testing as a product feature: profiles, distributed runs, HDR results, baselines and
regression verdicts (docs/loadtesting.md)."""
