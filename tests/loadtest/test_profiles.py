"""Load profiles: every shipped one parses, normalisation, and every validation error with its
YAML path and line number (omni/loadtest/profiles)."""

from __future__ import annotations

import textwrap

import pytest

from omni.loadtest.profiles import ProfileError, parse_profile, peak_rate, profile_scopes, shipped_profiles
from omni.loadtest.profiles.values import parse_duration, parse_threshold

MINIMAL = """\
name: tiny
operations:
  - tools/list
arrival:
  model: closed
  users: 2
duration: 3s
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ProfileError) as info:
        parse_profile(textwrap.dedent(text))
    return info.value.messages


def one_error(text: str) -> str:
    messages = errors_of(text)
    assert len(messages) == 1, messages
    return messages[0]


# --------------------------------------------------------------------------- shipped profiles
def test_the_shipped_profiles_are_there_and_all_parse():
    shipped = shipped_profiles()
    assert {"smoke", "baseline", "stress", "multi-tenant"} <= set(shipped)
    for name, text in shipped.items():
        profile = parse_profile(text)
        assert profile["name"] == name


def test_smoke_is_tiny_and_lists_tools_and_calls_the_calculator():
    smoke = parse_profile(shipped_profiles()["smoke"])
    assert smoke["duration_s"] <= 5 and smoke["arrival"] == {"model": "closed", "users": 2, "think_ms": 50.0}
    kinds = {(op["kind"], op.get("name")) for op in smoke["operations"]}
    assert kinds == {("tools/list", None), ("tools/call", "utilities__calculate")}


def test_stress_steps_up_with_an_slo_and_multi_tenant_has_a_noisy_org():
    stress = parse_profile(shipped_profiles()["stress"])
    assert stress["arrival"]["shape"] == "step" and peak_rate(stress["arrival"]) == 200.0
    assert {s["metric"] for s in stress["slo"]} == {"error_rate", "p99"}
    multi = parse_profile(shipped_profiles()["multi-tenant"])
    weights = sorted(entry["weight"] for entry in multi["organizations"])
    assert len(weights) >= 3 and weights[-1] == 10 * weights[0]


def test_multi_tenant_names_the_organizations_seed_test_data_makes(db):
    from omni.playground.testdata import seed_test_data

    multi = parse_profile(shipped_profiles()["multi-tenant"])
    slugs = [entry["org"] for entry in multi["organizations"]]
    assert seed_test_data(len(slugs), 1).organizations == slugs


def test_baseline_measures_the_server_alone_too_and_is_scheduled():
    baseline = parse_profile(shipped_profiles()["baseline"])
    assert baseline["target"] == "gateway" and baseline["direct"] == "utilities"
    assert baseline["schedule"] == "0 3 * * *"
    assert {"metric": "regression", "op": "<=", "value": 0.1, "unit": "ratio"}.items() <= next(
        t for t in baseline["thresholds"] if t["metric"] == "regression"
    ).items()


# --------------------------------------------------------------------------- normalisation
def test_defaults_and_normalised_shapes():
    profile = parse_profile(MINIMAL)
    assert profile == {
        "name": "tiny",
        "title": "tiny",
        "description": "",
        "mode": "2026-07-28",
        "target": "gateway",
        "direct": None,
        "operations": [{"label": "tools/list", "kind": "tools/list", "weight": 1.0}],
        "arrival": {"model": "closed", "users": 2, "think_ms": 0.0},
        "warmup_s": 0.0,
        "duration_s": 3.0,
        "timeout_s": 10.0,
        "shards": 1,
        "organizations": [],
        "thresholds": [],
        "slo": [],
        "schedule": "",
        "seed": 1,
        "samples": 2000,
    }


def test_operations_get_kinds_labels_and_weights():
    profile = parse_profile(
        textwrap.dedent(
            """\
            name: mix
            operations:
              - tools/list
              - {tool: utilities__calculate, arguments: {expression: "1+1"}, weight: 3}
              - {tool: utilities__calculate, arguments: {expression: "2+2"}}
              - {prompt: greet, arguments: {who: "{{ faker.first_name }}"}, label: hello}
              - {resource: "docs://guide"}
              - {operation: prompts/list, weight: 0.5}
              - scenario:
                  - {operation: tools/call, params: {name: utilities__hash_text, arguments: {text: a}}}
                  - {name: again, operation: tools/list}
            arrival: {model: open, rate: 10}
            duration: 2m
            """
        )
    )
    ops = profile["operations"]
    assert [op["label"] for op in ops] == [
        "tools/list",
        "utilities__calculate",
        "utilities__calculate#2",
        "hello",
        "resource:docs://guide",
        "prompts/list",
        "scenario",
    ]
    assert [op["kind"] for op in ops] == [
        "tools/list",
        "tools/call",
        "tools/call",
        "prompts/get",
        "resources/read",
        "prompts/list",
        "scenario",
    ]
    assert [op["weight"] for op in ops] == [1.0, 3.0, 1.0, 1.0, 1.0, 0.5, 1.0]
    assert ops[1]["name"] == "utilities__calculate" and ops[1]["arguments"] == {"expression": "1+1"}
    assert ops[3]["name"] == "greet" and ops[4]["uri"] == "docs://guide"
    assert ops[6]["steps"][0]["name"] == "step1" and ops[6]["steps"][1]["name"] == "again"
    assert profile["duration_s"] == 120.0
    assert profile["arrival"] == {"model": "open", "rate": 10.0, "shape": "constant", "max_in_flight": 1000}
    assert profile_scopes(profile) == {"tools:call", "prompts:read", "resources:read"}


def test_a_shipped_scenario_becomes_its_steps_with_variables_filled_in():
    profile = parse_profile(MINIMAL.replace("  - tools/list", "  - scenario: utilities_smoke"))
    (op,) = profile["operations"]
    assert op["kind"] == "scenario" and op["label"] == "scenario:utilities_smoke"
    first = op["steps"][0]
    assert first["operation"] == "tools/call" and first["params"]["name"] == "utilities__calculate"


def test_durations_thresholds_and_arrival_shapes_are_normalised():
    assert [parse_duration(v) for v in (2, 1.5, "30s", "2m", "1h", "500ms", "7")] == [
        2.0,
        1.5,
        30.0,
        120.0,
        3600.0,
        0.5,
        7.0,
    ]
    assert parse_threshold("calc: p99.9 < 1s") == {
        "metric": "p99_9",
        "op": "<",
        "value": 1000.0,
        "unit": "ms",
        "operation": "calc",
        "text": "calc: p99.9 < 1s",
    }
    assert parse_threshold("error_rate <= 0.1%")["value"] == pytest.approx(0.001)
    assert parse_threshold("throughput >= 100/s")["value"] == 100.0
    assert parse_threshold("regression <= 10%")["value"] == pytest.approx(0.1)
    profile = parse_profile(
        textwrap.dedent(
            """\
            name: shapes
            operations: [tools/list]
            arrival:
              model: open
              rate: 5
              shape: spike
              spike_rate: 50
              spike_at: 10s
              spike_for: 5s
              max_in_flight: 30
            warmup: 500ms
            duration: 20
            timeout: 2s
            mode: handshake
            shards: 3
            seed: 42
            samples: 100
            """
        )
    )
    assert profile["arrival"] == {
        "model": "open",
        "rate": 5.0,
        "shape": "spike",
        "max_in_flight": 30,
        "spike_rate": 50.0,
        "spike_at_s": 10.0,
        "spike_for_s": 5.0,
    }
    assert (profile["warmup_s"], profile["timeout_s"], profile["revision"]) == (0.5, 2.0, "2025-11-25")
    assert (profile["shards"], profile["seed"], profile["samples"]) == (3, 42, 100)
    assert peak_rate(profile["arrival"]) == 50.0


# --------------------------------------------------------------------------- errors, with lines
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # YAML itself
        ("name: [unclosed\n", "line 2, column 1: YAML syntax error"),
        ("", "the profile is empty"),
        ("name: a\nname: b\n", "line 2: the key 'name' appears twice in one mapping"),
        ("base: &b {x: 1}\nother: *b\n", "line 1: anchors and aliases (&name, *name) are not allowed"),
        # the schema
        (MINIMAL.replace("name: tiny", "name: Tiny Profile"), "line 1, name: 'Tiny Profile' does not match"),
        (MINIMAL + "colour: blue\n", "line 1, (top level): unknown key(s) ('colour' was unexpected)"),
        (MINIMAL.replace("users: 2", "users: 0"), "line 6, arrival.users: 0 is less than the minimum of 1"),
        (
            MINIMAL.replace("  - tools/list", "  - tools/delete"),
            "line 3, operations[0]: 'tools/delete' is not an operation",
        ),
        (
            MINIMAL.replace("  - tools/list", "  - {tool: x, weight: 0}"),
            "line 3, operations[0].weight: 0 is less than or equal to the minimum of 0",
        ),
        (
            MINIMAL.replace("  - tools/list", "  - {tool: x, colour: red}"),
            "line 3, operations[0]: unknown key(s) ('colour' was unexpected)",
        ),
        (
            MINIMAL.replace("  - tools/list", "  - scenario:\n      - {operation: tools/delete}"),
            "line 4, operations[0].scenario[0].operation: 'tools/delete' is not one of",
        ),
        (
            MINIMAL.replace(
                "  - tools/list", "  - scenario:\n      - {operation: tools/call, params: {arguments: {}}}"
            ),
            "line 4, operations[0].scenario[0].params: 'name' is a required property",
        ),
        (
            MINIMAL.replace("  - tools/list", "  - scenario:\n      - {operation: ping, params: {x: 1}}"),
            "line 4, operations[0].scenario[0].params: {'x': 1} is expected to be empty",
        ),
        (
            MINIMAL.replace("  - tools/list", "  - {scenario: {steps: []}}"),
            "line 3, operations[0].scenario: {'steps': []} is not a scenario: give a scenario's name",
        ),
        (MINIMAL + "mode: http2\n", "line 8, mode: 'http2' is not one of"),
        (MINIMAL + "shards: many\n", "line 8, shards: 'many' is not of type 'integer'"),
        (
            MINIMAL + "organizations: [{org: acme, weight: -1}]\n",
            "line 8, organizations[0].weight: -1 is less than or equal to the minimum of 0",
        ),
        # semantic checks
        (
            MINIMAL.replace("duration: 3s", "duration: 3 parsecs"),
            "line 7, duration: '3 parsecs' is not a duration",
        ),
        (
            MINIMAL.replace("duration: 3s", "duration: 0"),
            "line 7, duration: the duration must be more than 0 s",
        ),
        (MINIMAL + "timeout: 10m\n", "line 8, timeout: the timeout must be more than 0 s and at most 300 s"),
        (MINIMAL + "warmup: -1\n", "line 8, warmup: a duration cannot be negative"),
        (
            MINIMAL.replace("  - tools/list", "  - {tool: a, prompt: b}"),
            "line 3, operations[0]: give exactly one of tool, prompt, resource, scenario, operation "
            "(found 2)",
        ),
        (
            MINIMAL.replace("  - tools/list", "  - {resource: 'docs://a', arguments: {x: 1}}"),
            "line 3, operations[0].arguments: arguments only go with tool or prompt",
        ),
        (
            MINIMAL.replace("  - tools/list", "  - {tool: a, label: same}\n  - {tool: b, label: same}"),
            "line 4, operations[1].label: another operation is already labelled 'same'",
        ),
        (MINIMAL.replace("  - tools/list", "  - scenario: no_such_scenario_here"), None),
        (
            MINIMAL.replace("users: 2", "users: 2\n  rate: 5"),
            "line 7, arrival.rate: rate only goes with model: open",
        ),
        (MINIMAL.replace("  users: 2", "  think: 1s"), "line 5, arrival: a closed model needs users"),
        (
            MINIMAL.replace("model: closed\n  users: 2", "model: open"),
            "line 5, arrival: an open model needs rate",
        ),
        (
            MINIMAL.replace("model: closed\n  users: 2", "model: open\n  rate: 5\n  users: 3"),
            "line 7, arrival.users: users only goes with model: closed",
        ),
        (
            MINIMAL.replace("model: closed\n  users: 2", "model: open\n  rate: 5\n  shape: ramp"),
            "line 5, arrival: shape ramp needs rate_to",
        ),
        (
            MINIMAL.replace("model: closed\n  users: 2", "model: open\n  rate: 5\n  rate_to: 9"),
            "line 7, arrival.rate_to: rate_to only goes with shape: ramp",
        ),
        (
            MINIMAL.replace(
                "model: closed\n  users: 2",
                "model: open\n  rate: 5\n  shape: step\n  steps:\n"
                "    - {at: 2s, rate: 9}\n    - {at: 1s, rate: 3}",
            ),
            "line 10, arrival.steps[1].at: steps must be in increasing order of at",
        ),
        (
            MINIMAL.replace(
                "model: closed\n  users: 2",
                "model: open\n  rate: 5\n  shape: step\n  steps: [{at: 5s, rate: 9}]",
            ),
            "line 8, arrival.steps[0].at: the step starts after the duration (3 s)",
        ),
        (
            MINIMAL.replace(
                "model: closed\n  users: 2",
                "model: open\n  rate: 5\n  shape: spike\n  spike_rate: 9\n  spike_at: 2s\n  spike_for: 2s",
            ),
            "line 9, arrival.spike_at: the spike must end within the duration (3 s)",
        ),
        (MINIMAL + "revision: 2025-06-18\n", "line 8, revision: revision only goes with mode: handshake"),
        (
            MINIMAL + "mode: handshake\nrevision: '2024-11-05'\n",
            "line 9, revision: '2024-11-05' is not a handshake revision",
        ),
        (
            MINIMAL + "target: somewhere\n",
            "line 8, target: 'somewhere' is not a target: use gateway or server:<server name>",
        ),
        (MINIMAL + "target: server:Bad__Name\n", "line 8, target: 'server:Bad__Name' is not a target"),
        (
            MINIMAL + "target: server:utilities\ndirect: utilities\n",
            "line 9, direct: direct (measuring a server alone too) only goes with target: gateway",
        ),
        (
            MINIMAL + "thresholds:\n  - p95 <= 250ms\n  - p95 is fast\n",
            "line 10, thresholds[1]: 'p95 is fast' is not a threshold",
        ),
        (
            MINIMAL + "thresholds: ['p95 <= 250']\n",
            "line 8, thresholds[0]: 'p95 <= 250': give the latency with a unit",
        ),
        (
            MINIMAL + "thresholds: ['p42 <= 250ms']\n",
            "line 8, thresholds[0]: 'p42 <= 250ms': unknown metric 'p42'",
        ),
        (
            MINIMAL + "thresholds: ['error_rate <= 150%']\n",
            "line 8, thresholds[0]: 'error_rate <= 150%': error_rate cannot be more than 100%",
        ),
        (
            MINIMAL + "thresholds: ['regression >= 10%']\n",
            "line 8, thresholds[0]: 'regression >= 10%': a regression bound is a maximum",
        ),
        (
            MINIMAL + "thresholds: ['throughput >= 5ms']\n",
            "line 8, thresholds[0]: 'throughput >= 5ms': throughput is in requests per second",
        ),
        (
            MINIMAL + "thresholds: ['calc: p95 <= 5ms']\n",
            "line 8, thresholds[0]: no operation labelled 'calc' (labels: tools/list)",
        ),
        (MINIMAL + "slo: ['throughput >= 5/s']\n", "line 8, slo[0]: an SLO is about error_rate or latency"),
        (
            MINIMAL + "organizations:\n  - {org: acme}\n  - {org: acme, weight: 2}\n",
            "line 10, organizations[1].org: 'acme' is listed twice",
        ),
        (MINIMAL + "schedule: '0 3 * *'\n", "line 8, schedule: '0 3 * *' is not a 5-field cron expression"),
        (
            MINIMAL + "schedule: '61 3 * * *'\n",
            "line 8, schedule: '61 3 * * *' is not a valid cron expression",
        ),
    ],
)
def test_every_validation_error_names_its_path_and_line(text, expected):
    if expected is None:  # an unknown scenario without an organization is left for create_run
        profile = parse_profile(text)
        assert profile["operations"][0]["scenario"] == "no_such_scenario_here"
        return
    message = one_error(text)
    assert message.startswith(expected), message


def test_missing_keys_are_each_reported_and_unquoted_dates_are_revisions():
    assert errors_of("name: x\n") == [
        "line 1, (top level): 'arrival' is a required property",
        "line 1, (top level): 'duration' is a required property",
        "line 1, (top level): 'operations' is a required property",
    ]
    profile = parse_profile(MINIMAL + "mode: handshake\nrevision: 2025-06-18\n")
    assert profile["revision"] == "2025-06-18"
    assert parse_profile(MINIMAL + "mode: 2026-07-28\n")["mode"] == "2026-07-28"


def test_all_problems_are_reported_at_once_with_their_lines():
    messages = errors_of(
        """\
        name: several
        operations:
          - tools/list
        arrival:
          model: closed
          users: 1
          rate: 3
        duration: forever
        thresholds: ['p95 < soon']
        """
    )
    assert [m.split(":")[0] for m in messages] == [
        "line 8, duration",
        "line 7, arrival.rate",
        "line 9, thresholds[0]",
    ]


def test_an_unknown_scenario_of_an_organization_is_an_error_with_its_line(db):
    from tests.factories import OrganizationFactory, UploadedScenarioFactory

    org = OrganizationFactory()
    text = MINIMAL.replace("  - tools/list", "  - tools/list\n  - scenario: mine")
    with pytest.raises(ProfileError) as info:
        parse_profile(text, org=org)
    assert info.value.messages == [
        "line 4, operations[1].scenario: no scenario called 'mine' "
        "(neither shipped nor uploaded by this organization)"
    ]
    UploadedScenarioFactory(
        organization=org, name="mine", text="name: mine\nsteps:\n  - {name: l, operation: prompts/list}\n"
    )
    profile = parse_profile(text, org=org)
    assert profile["operations"][1]["steps"] == [
        {"name": "l", "operation": "prompts/list", "params": {}, "save": {}}
    ]
    assert profile_scopes(profile) == {"tools:call", "prompts:read"}
    other = OrganizationFactory()
    with pytest.raises(ProfileError):
        parse_profile(text, org=other)  # another organization's scenario is not found


def test_oversized_and_non_utf8_profiles_are_refused():
    assert one_error("x" * (65 * 1024)) == "the profile is larger than 64 KiB"
    with pytest.raises(ProfileError) as info:
        parse_profile(b"name: \xff\xfe")
    assert info.value.messages == ["the profile is not UTF-8 text"]
    assert one_error("a: " + "[" * 40 + "]" * 40).startswith("the profile is nested too deeply")
