#!/usr/bin/python3
"""End-to-end: the real Prometheus (2.42) sends its alerts to the real
Alertmanager (0.25), whose webhook receiver notifies the engine
(/api/v1/webhooks/alertmanager); in a variant Prometheus also sends to the
engine directly. Either way the engine calls the two log plugins in order,
once per alert, across many notifications.

Run by CTest (ht_script_test e2e_alertmanager); by hand:
  HT_BIN_DIR=build/bin /usr/bin/python3 tests/e2e/prometheus/alertmanager_test.py
HT_E2E_ONLY=<substring> runs only the tests whose name contains it.
"""

import harness
from harness import NotYet, expect, metric_sum, poll, start_alertmanager, start_prometheus
import scenario
from scenario import ALERT_COUNT, MATCHING

# Alert groups Alertmanager forms from scenario's alerts with group_by
# [alertname, cluster_name]: (SpotTerminationNotice, test-cluster) holds both
# matching alerts, so each notification carries both again.
GROUPS = 3


def alertmanager_config(engine):
    return f"""\
route:
  receiver: hollowtrees
  group_by: [alertname, cluster_name]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: hollowtrees
    webhook_configs:
      - url: "http://127.0.0.1:{engine.port}/api/v1/webhooks/alertmanager"
        send_resolved: true
"""


def prometheus_config(targets, scrape=""):
    quoted = ", ".join(f'"{t}"' for t in targets)
    return f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - rules.yml
alerting:
  alertmanagers:
    - api_version: v2
      timeout: 5s
      static_configs:
        - targets: [{quoted}]
{scrape}"""


def wait_for_notifications(am, minimum, timeout=30.0):
    """Waits until Alertmanager has sent `minimum` webhook notifications and
    none failed (the engine answered 2xx to every one)."""
    def enough():
        m = am.metrics()
        sent = metric_sum(m, "alertmanager_notifications_total", integration="webhook")
        failed = metric_sum(m, "alertmanager_notifications_failed_total", integration="webhook")
        expect(failed == 0, f"Alertmanager reports {failed} failed webhook notifications to the "
                            "engine")
        if sent >= minimum:
            return True
        raise NotYet(f"{sent} sent")
    poll(enough, timeout, f"Alertmanager to send {minimum} webhook notifications")


def run_via_alertmanager(stack, also_direct):
    first, second, engine = scenario.start_plugins_and_engine(stack)
    am = start_alertmanager(stack, alertmanager_config(engine))
    targets = [f"127.0.0.1:{am.port}"]
    if also_direct:
        targets.append(f"127.0.0.1:{engine.port}")
    start_prometheus(stack, prometheus_config(targets), scenario.alert_rules_yaml(),
                     scenario.PROMETHEUS_URL)

    scenario.wait_for_calls(second, len(MATCHING))
    # The flows ran; every group must now be notified again at least twice
    # (>= 3 notifications each) and the engine must see the repeats as
    # duplicates.
    m = engine.metrics()
    r0 = metric_sum(m, "hollowtrees_events_received_total", source="alertmanager")
    n0 = metric_sum(am.metrics(), "alertmanager_notifications_total", integration="webhook")
    wait_for_notifications(am, max(3 * GROUPS, n0 + 2 * GROUPS))
    scenario.wait_for_receipts(engine, "alertmanager",
                               max(3 * ALERT_COUNT, r0 + 2 * ALERT_COUNT), 2 * ALERT_COUNT)
    if also_direct:
        scenario.wait_for_receipts(engine, "prometheus", 3 * ALERT_COUNT, 2 * ALERT_COUNT)
    m = scenario.wait_quiescent(engine)

    records = scenario.check_plugin_calls(first, second)[0]
    scenario.check_engine_counters(engine, m, records)
    direct = metric_sum(m, "hollowtrees_events_received_total", source="prometheus")
    expect(also_direct or direct == 0,
           f'events_received_total{{source="prometheus"}} = {direct} without a direct route')
    expect(stack.stop(engine.process) == 0, "the engine did not exit 0 on SIGTERM")


def test_alertmanager_webhook_to_engine(stack):
    run_via_alertmanager(stack, also_direct=False)


def test_prometheus_to_alertmanager_and_engine(stack):
    """The same alerts arrive directly and through Alertmanager: one event
    (same labels and startsAt, same generatorURL), so one flow per alert."""
    run_via_alertmanager(stack, also_direct=True)


def test_alertmanager_resolved_notification(stack):
    def start_senders(engine, gauge):
        am = start_alertmanager(stack, alertmanager_config(engine))
        start_prometheus(stack, prometheus_config([f"127.0.0.1:{am.port}"],
                                                  scenario.gauge_scrape_config(gauge)),
                         scenario.RESOLVE_RULES, scenario.PROMETHEUS_URL)
    scenario.run_resolved_scenario(stack, start_senders, "alertmanager", resolved_repeats=0)


TESTS = [
    test_alertmanager_webhook_to_engine,
    test_prometheus_to_alertmanager_and_engine,
    test_alertmanager_resolved_notification,
]

if __name__ == "__main__":
    harness.main(TESTS, "ht-e2e-alertmanager")
