"""k8s/observability, validated offline: the kustomization renders, the dashboard ConfigMap passes
kubernetes-validate --strict, the PrometheusRule (a Prometheus Operator custom resource, so no
schema here) is checked field by field and by promtool — its expressions and templates
(`promtool check rules`) and what fires when (`promtool test rules` with alerts_test.yml) — the
dashboard's queries parse as PromQL, and every metric either names is one the code exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_support import REPO, by_kind, kustomize
from test_k8s import validate_strictly

OBSERVABILITY = REPO / "k8s" / "observability"
RULES = OBSERVABILITY / "prometheus-rules.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
OPERATIONS = REPO / "docs" / "operations.md"
METRICS_SOURCE = REPO / "shared" / "club_shared" / "metrics.py"

#: Alerts the operations guide promises (issue 9: parked messages, relay lag, 5xx rate, consumer lag).
REQUIRED_ALERTS = {"ClubParkedMessages", "ClubRelayLagging", "ClubHighErrorRate", "ClubConsumerLagging"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    reason = "promtool is not installed (.ci/run extracts it from Debian's prometheus package)"
    if os.environ.get("CLUB_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return kustomize(OBSERVABILITY)


@pytest.fixture(scope="module")
def rule_spec() -> dict:
    return yaml.safe_load(RULES.read_text())["spec"]


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def alerts(spec: dict) -> list[dict]:
    return [rule for group in spec["groups"] for rule in group["rules"]]


def exported_metrics() -> set[str]:
    """Every series name the services export: the module's counters and histograms (with their
    suffixes) and the gauges the scrape-time collectors make."""
    from prometheus_client.metrics import MetricWrapperBase

    import club_shared.metrics as metrics

    names: set[str] = set()
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            base = obj._name
            if obj._type == "counter":
                names |= {f"{base}_total", f"{base}_created"}
            elif obj._type == "histogram":
                names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_created"}
            else:
                names.add(base)
    source = METRICS_SOURCE.read_text()
    names |= set(re.findall(r'(?:GaugeMetricFamily|_gauge)\(\s*"(club_[a-z_]+)"', source))
    return names


def named_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\b(club_[a-z_]+)\b", expr))


# ---- the kustomization ---------------------------------------------------------------------------


def test_renders_the_rule_and_the_dashboard_config_map(rendered):
    kinds = {(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in rendered}
    assert kinds == {
        ("monitoring.coreos.com/v1", "PrometheusRule", "clubhouse"),
        ("v1", "ConfigMap", "clubhouse-grafana-dashboard"),
    }
    for obj in rendered:
        assert obj["metadata"]["namespace"] == "monitoring"
    config_map = by_kind(rendered, "ConfigMap")["clubhouse-grafana-dashboard"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["clubhouse.json"]) == json.loads(DASHBOARD.read_text())


def test_the_built_in_kinds_validate_strictly(rendered):
    assert validate_strictly([o for o in rendered if o["kind"] != "PrometheusRule"]) == []


def test_the_app_kustomizations_do_not_need_the_operator():
    """The app applies without the Prometheus Operator: its CRD appears only here."""
    for overlay in (REPO / "k8s" / "base", REPO / "k8s" / "overlays" / "production"):
        assert not [o for o in kustomize(overlay) if o["kind"] == "PrometheusRule"]


# ---- the alert rules -----------------------------------------------------------------------------


def test_every_alert_is_complete_and_named_in_the_operations_guide(rule_spec):
    guide = OPERATIONS.read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", guide, re.M)
    }
    names = set()
    for rule in alerts(rule_spec):
        name = rule["alert"]
        names.add(name)
        assert rule["labels"]["severity"] in ("page", "ticket"), name
        assert re.fullmatch(r"\d+m", rule["for"]), name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook"} <= set(annotations), name
        runbook = annotations["runbook"]
        assert runbook == f"docs/operations.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/operations.md has no section {name}"
    assert names >= REQUIRED_ALERTS
    assert len(names) == len(alerts(rule_spec)), "alert names are unique"


def test_alerts_name_only_exported_metrics(rule_spec):
    known = exported_metrics()
    for rule in alerts(rule_spec):
        named = named_metrics(rule["expr"])
        assert named, rule["alert"]
        assert named <= known, f"{rule['alert']}: {sorted(named - known)}"


def test_promtool_checks_the_rules_and_their_templates(tmp_path, rule_spec):
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rule_spec, sort_keys=False))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(alerts(rule_spec))} rules found" in result.stdout


def test_the_alerts_fire_when_they_should(tmp_path, rule_spec):
    """alerts_test.yml: series in, alerts out (annotations left out: their templates are checked
    above, and the tests are about when each alert fires and for whom)."""
    spec = json.loads(json.dumps(rule_spec))
    for rule in alerts(spec):
        rule.pop("annotations")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(Path(__file__).with_name("alerts_test.yml"), tmp_path / "alerts_test.yml")
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (tmp_path / "alerts_test.yml").read_text()))
    assert tested == {rule["alert"] for rule in alerts(rule_spec)}, "every alert has a test"


# ---- the dashboard -------------------------------------------------------------------------------


def panel_queries(dashboard: dict) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_the_dashboard_is_well_formed(dashboard):
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "service"} <= variables
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]


def test_the_dashboard_shows_what_the_issue_asks(dashboard):
    shown = set().union(*(named_metrics(expr) for _title, expr in panel_queries(dashboard)))
    for metric in (
        "club_http_request_duration_seconds_count",  # rate and errors
        "club_http_request_duration_seconds_bucket",  # latency
        "club_outbox_backlog",
        "club_outbox_relay_lag_seconds",
        "club_bus_consumer_lag_seconds_bucket",
        "club_bus_events_retried_total",
        "club_bus_events_parked_total",
        "club_bus_queue_messages",
        "club_job_queue_jobs",
    ):
        assert metric in shown, metric
    assert shown <= exported_metrics(), sorted(shown - exported_metrics())


def test_the_dashboard_queries_parse_as_promql(tmp_path, dashboard):
    """Each query becomes a recording rule (Grafana's variables given plain values), which
    promtool parses."""
    rules = []
    for n, (_title, expr) in enumerate(panel_queries(dashboard)):
        plain = expr.replace("$__rate_interval", "5m").replace("$service", ".*")
        rules.append({"record": f"dashboard:query_{n}", "expr": plain})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
