"""Retention of data by policy (issue 9 part 3): the registry of data classes, the cleanup engine,
the daily task, the ``apply_retention`` command and the privacy page. See docs/privacy.md "Retention".
"""
