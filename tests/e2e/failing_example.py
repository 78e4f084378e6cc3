"""A browser test that fails on purpose. Not collected by the suite (the name does not match
``test_*.py``); ``test_screenshots.py`` runs it in a separate pytest process to prove that a failing
E2E test leaves a screenshot behind."""

from __future__ import annotations


def test_fails_with_a_page(page):
    page.set_content("<h1 id=marker>about to fail</h1>")
    assert page.inner_text("#marker") == "something else"
