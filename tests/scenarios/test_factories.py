"""Every model of the project has a factory in tests/factories.py, and each one makes a valid row."""

from __future__ import annotations

import factory
import pytest
from django.apps import apps

from omni.audit.models import AuditEvent
from omni.playground.scenario_spec import load_scenario
from tests import factories

# Internal rows that no test creates by hand (the audit chain's single head row).
NO_FACTORY = {"audit.AuditChainHead"}


def _factories() -> dict[str, type[factory.Factory]]:
    found = {}
    for value in vars(factories).values():
        if isinstance(value, type) and issubclass(value, factory.Factory) and value._meta.model is not None:
            found[value._meta.model._meta.label] = value
    return found


def _project_models() -> list[str]:
    return sorted(
        model._meta.label
        for model in apps.get_models()
        if model.__module__.startswith(("omni.", "mcp_servers.")) and model._meta.label not in NO_FACTORY
    )


def test_every_model_has_a_factory():
    missing = sorted(set(_project_models()) - set(_factories()))
    assert not missing, f"add factories to tests/factories.py for: {', '.join(missing)}"


@pytest.mark.parametrize("label", _project_models())
def test_each_factory_makes_a_valid_row(db, label):
    made = _factories()[label].create()
    model = apps.get_model(label)
    assert model.objects.filter(pk=made.pk).exists()
    if not isinstance(made, AuditEvent):  # append-only rows are checked by the audit chain instead
        made.full_clean()


def test_factory_defaults_fit_together(db):
    scenario_run = factories.ScenarioRunFactory()
    step = factories.TestRunFactory(
        organization=scenario_run.organization, source="scenario", scenario_run=scenario_run
    )
    assert list(scenario_run.test_runs.all()) == [step]
    uploaded = factories.UploadedScenarioFactory()
    assert load_scenario(uploaded.text).name == uploaded.name
    event = factories.AuditEventFactory(action="tests.factory")
    assert event.seq > 0 and event.hash and event.organization_id is not None
    dataset = factories.DatasetFactory()
    assert all(len(row) == len(dataset.columns) for row in dataset.rows)
