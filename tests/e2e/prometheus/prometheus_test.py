#!/usr/bin/python3
"""End-to-end: the real Prometheus (Debian 2.42) sends its alerts straight to
the engine (alerting.alertmanagers -> /api/v2/alerts, and /api/v1/alerts),
and the engine calls two real log plugins in order, once per alert.

Run by CTest (ht_script_test e2e_prometheus); by hand:
  HT_BIN_DIR=build/bin /usr/bin/python3 tests/e2e/prometheus/prometheus_test.py
HT_E2E_ONLY=<substring> runs only the tests whose name contains it.
"""

import json
import subprocess
import urllib.parse

import harness
from harness import (PROMTOOL, expect, http_get_ok, http_post_json, http_request, metric_sum,
                     poll, start_prometheus)
import scenario
from scenario import ALERT_COUNT, MATCHING


def prometheus_config(engine, api_version="v2", scrape_engine=True):
    scrape = ""
    if scrape_engine:
        scrape = f"""\
scrape_configs:
  - job_name: hollowtrees
    static_configs:
      - targets: ["127.0.0.1:{engine.port}"]
"""
    return f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - rules.yml
alerting:
  alertmanagers:
    - api_version: {api_version}
      timeout: 5s
      static_configs:
        - targets: ["127.0.0.1:{engine.port}"]
{scrape}"""


def query(prom, promql):
    body = http_get_ok(prom.url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    doc = json.loads(body)
    expect(doc.get("status") == "success", f"query {promql!r} failed: {body[:500]}")
    return doc["data"]["result"]


def prometheus_dropped(prom):
    return metric_sum(prom.metrics(), "prometheus_notifications_dropped_total")


def check_prometheus_delivered(prom, minimum_alerts, dropped_before):
    """Prometheus itself says it sent the alerts to one target, none failed,
    and it dropped none since the engine got its first alerts. (Prometheus
    drops the batches it evaluates before service discovery has handed it the
    static target, which takes up to 5 s after start: not the engine's doing.)"""
    m = prom.metrics()
    errors = metric_sum(m, "prometheus_notifications_errors_total")
    dropped = metric_sum(m, "prometheus_notifications_dropped_total")
    sent = metric_sum(m, "prometheus_notifications_sent_total")
    targets = metric_sum(m, "prometheus_notifications_alertmanagers_discovered")
    expect(targets == 1, f"Prometheus discovered {targets} alertmanagers, want 1 (the engine)")
    expect(errors == 0 and dropped == dropped_before,
           f"Prometheus had {errors} notification errors and dropped {dropped - dropped_before} "
           "alerts sending to the engine: the engine must answer 2xx at once")
    expect(sent >= minimum_alerts, f"Prometheus sent {sent} alerts, want >= {minimum_alerts}")


def run_direct(stack, api_version):
    first, second, engine = scenario.start_plugins_and_engine(stack)
    prom = start_prometheus(stack, prometheus_config(engine, api_version),
                            scenario.alert_rules_yaml(), scenario.PROMETHEUS_URL)
    scenario.wait_for_calls(second, len(MATCHING))
    dropped_before = prometheus_dropped(prom)
    # The flows ran; now Prometheus must re-send every alert at least twice
    # more (>= 3 receipts in all) and the engine must see those as duplicates.
    m = engine.metrics()
    r0 = metric_sum(m, "hollowtrees_events_received_total", source="prometheus")
    scenario.wait_for_receipts(engine, "prometheus", max(3 * ALERT_COUNT, r0 + 2 * ALERT_COUNT),
                               2 * ALERT_COUNT)
    m = scenario.wait_quiescent(engine)
    records = scenario.check_plugin_calls(first, second)[0]
    scenario.check_engine_counters(engine, m, records)
    for source in ("alertmanager", "cloudevents"):
        n = metric_sum(m, "hollowtrees_events_received_total", source=source)
        expect(n == 0, f'events_received_total{{source="{source}"}} = {n}, want 0')
    check_prometheus_delivered(prom, 3 * ALERT_COUNT, dropped_before)
    return first, second, engine, prom


def test_prometheus_pushes_v2_alerts_to_engine(stack):
    first, second, engine, prom = run_direct(stack, "v2")
    # The real Prometheus also scrapes the engine's /metrics: the exposition
    # is valid for it, and its counters are what the engine reports.
    poll(lambda: any(r["value"][1] == "1" for r in query(prom, 'up{job="hollowtrees"}')), 15,
         'up{job="hollowtrees"} == 1 in Prometheus (it scraped the engine)')
    def scraped_receipts():
        result = query(prom, 'hollowtrees_events_received_total{source="prometheus"}')
        if result and float(result[0]["value"][1]) >= 3 * ALERT_COUNT:
            return result
        raise harness.NotYet(f"query result {result}")
    poll(scraped_receipts, 15,
         f'Prometheus to scrape hollowtrees_events_received_total >= {3 * ALERT_COUNT}')
    # Graceful stop: exit 0 for the engine and both plugins.
    stack.stop(prom.process)
    for p in (engine.process, second.process, first.process):
        code = stack.stop(p)
        expect(code == 0, f"{p.name} exited {code} on SIGTERM, want 0")


def test_prometheus_pushes_v1_alerts_to_engine(stack):
    _, _, engine, _ = run_direct(stack, "v1")
    expect(stack.stop(engine.process) == 0, "the engine did not exit 0 on SIGTERM")


def test_engine_restart_keeps_absorbing_resends(stack):
    """The engine restarts (SIGTERM, then the same data dir and port) while
    Prometheus keeps re-sending the firing alerts: the restarted engine still
    knows them, so every re-send is a duplicate and no flow runs again."""
    first, second, engine = scenario.start_plugins_and_engine(stack)
    start_prometheus(stack, prometheus_config(engine, scrape_engine=False),
                     scenario.alert_rules_yaml(), scenario.PROMETHEUS_URL)
    scenario.wait_for_calls(second, len(MATCHING))
    scenario.wait_quiescent(engine)
    engine = harness.restart_engine(stack, engine, "hollowtrees-restarted")

    # The new process counts from zero: all it receives must be duplicates.
    def all_duplicates():
        m = engine.metrics()
        rec = metric_sum(m, "hollowtrees_events_received_total", source="prometheus")
        dup = metric_sum(m, "hollowtrees_events_duplicate_total", source="prometheus")
        if rec >= 2 * ALERT_COUNT and dup == rec:
            return m
        raise harness.NotYet(f"received {rec}, duplicates {dup}")
    m = poll(all_duplicates, 30, f"the restarted engine to receive >= {2 * ALERT_COUNT} "
                                 "re-sent alerts, all counted as duplicates")
    started = metric_sum(m, "hollowtrees_flows_started_total")
    expect(started == 0, f"the restarted engine started {started} flows, want 0")
    scenario.check_plugin_calls(first, second)
    expect(stack.stop(engine.process) == 0, "the restarted engine did not exit 0 on SIGTERM")


def test_resolved_alert_goes_to_resolved_rule_only(stack):
    """An alert that fires and then resolves: the firing rule runs once, the
    resolved rule runs once, although Prometheus re-sends both states."""
    def start_senders(engine, gauge):
        config = prometheus_config(engine, scrape_engine=False) + scenario.gauge_scrape_config(gauge)
        start_prometheus(stack, config, scenario.RESOLVE_RULES, scenario.PROMETHEUS_URL)
    scenario.run_resolved_scenario(stack, start_senders, "prometheus", resolved_repeats=3)


def test_engine_http_contract_and_metrics_lint(stack):
    """What Prometheus relies on from an alert receiver, without Prometheus:
    the answer to a batch, duplicates, bad input answered 4xx with the
    process still up; and an exposition that `promtool check metrics` passes."""
    first, second, engine = scenario.start_plugins_and_engine(stack)
    batch = [{"labels": labels, "annotations": {"summary": "by hand"},
              "startsAt": "2026-01-02T03:04:05.123456789Z",
              "endsAt": "2099-01-01T00:00:00Z",
              "generatorURL": scenario.PROMETHEUS_URL + "graph?g0.expr=vector%281%29"}
             for labels in list(MATCHING.values()) + list(scenario.NOT_MATCHING.values())]
    url = engine.url + "/api/v2/alerts"
    status, body = http_post_json(url, batch)
    expect(status == 200, f"POST {url} with {len(batch)} alerts: status {status}, body {body}")
    doc = json.loads(body)
    expect(doc.get("accepted") == len(batch) and doc.get("duplicates") == 0
           and doc.get("rejected") == [],
           f"first POST: got {doc}, want accepted {len(batch)}, duplicates 0, rejected []")
    status, body = http_post_json(url, batch)
    doc = json.loads(body)
    expect(status == 200 and doc.get("duplicates") == len(batch) and doc.get("rejected") == [],
           f"same batch again: status {status}, body {doc}; want duplicates {len(batch)}")

    for bad in (b"{not json", b'{"labels": {}}'):
        status, body = http_request("POST", url, bad, {"Content-Type": "application/json"})
        expect(400 <= status < 500, f"POST {bad!r}: status {status}, want 4xx; body {body}")
        try:
            json.loads(body)
        except ValueError:
            raise harness.TestFailure(f"POST {bad!r}: error body is not JSON: {body!r}")
    status, body = http_post_json(url, [{"labels": {"cluster_name": "x"}}] + batch[:1])
    doc = json.loads(body) if status == 200 else {}
    expect(status == 200 and [r.get("index") for r in doc.get("rejected", [])] == [0]
           and doc.get("duplicates") == 1,
           f"batch of [alert without alertname, known alert]: status {status}, body {body}; "
           "want 200 with rejected index 0 and 1 duplicate")
    harness.wait_http_ok(engine.url + "/healthz", 5, "the engine to stay up after bad input")

    scenario.wait_for_calls(second, len(MATCHING))
    m = scenario.wait_quiescent(engine)
    records = scenario.check_plugin_calls(first, second)[0]
    scenario.check_engine_counters(engine, m, records)

    exposition = http_get_ok(engine.url + "/metrics")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=exposition, capture_output=True,
                       text=True, timeout=30)
    expect(r.returncode == 0, f"promtool check metrics on the engine's /metrics exited "
                              f"{r.returncode}:\n{r.stdout}{r.stderr}")
    expect(stack.stop(engine.process) == 0, "the engine did not exit 0 on SIGTERM")


TESTS = [
    test_prometheus_pushes_v2_alerts_to_engine,
    test_prometheus_pushes_v1_alerts_to_engine,
    test_engine_restart_keeps_absorbing_resends,
    test_resolved_alert_goes_to_resolved_rule_only,
    test_engine_http_contract_and_metrics_lint,
]

if __name__ == "__main__":
    harness.main(TESTS, "ht-e2e-prometheus")
