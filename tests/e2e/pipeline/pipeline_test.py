"""CTest e2e_pipeline: the whole pipeline of scripts/pipeline.py, once per
path, asserting every effect of a spot notice and the time from the notice to
the cordon.

- test_prometheus_path: notice on the fake IMDS -> exporter -> Prometheus
  (scrape and evaluation 1 s) -> engine (/api/v2/alerts) -> drain plugin ->
  Auto Scaling plugin. The flow is started by the Prometheus alert.
- test_fast_path: the exporter also pushes a CloudEvent; the push starts the
  flow and the Prometheus alert that follows is absorbed in the same group
  (one flow, each plugin called once).
- test_sqs_path: no exporter, no Prometheus: the spot warning as EventBridge
  puts it on the (fake) SQS queue starts the same drain and replacement.
- test_scale_in: a termination lifecycle action of the group and its
  EventBridge event on the queue: the hook is kept open (heartbeats), the
  node drained, and only then the hook completed with CONTINUE; nothing is
  detached and the instance stays in its group for Auto Scaling to end.
- test_scale_in_long_drain_across_engine_restart: a drain of about 40 s
  (a pod with a 40 s grace period) under a hook whose heartbeat timeout is
  30 s, and the engine killed (SIGKILL) and restarted while it runs: the
  plugin's heartbeats keep the hook open, the restarted engine resumes the
  flow, and the hook is completed after the drain, never having expired.

Both check, from the fakes' own state: the node cordoned, the evictable pods
gone (the DaemonSet pod left), their ReplicaSets' pods running elsewhere, one
DetachInstances without decrement, the instance out of its group, desired
capacity kept and a replacement launched; the milestones in causal order; and
notice-to-cordon within a bound.
"""

import os
import sys

SOURCE_DIR = os.environ.get("HT_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "scripts"))

import pipeline  # noqa: E402  (scripts/pipeline.py)
from harness import expect, poll, NotYet, SKIP_EXIT_CODE  # noqa: E402

# Bounds on notice -> cordon. The Prometheus path needs an exporter poll (1 s),
# a scrape (1 s), an evaluation (1 s) and a send: about 1-3 s here. The fast
# path needs only the exporter's poll. Generous for a loaded 2-core CI box.
PROMETHEUS_CORDON_BOUND = 10.0
FAST_CORDON_BOUND = 5.0
# The SQS path: the long poll returns as soon as the message is visible.
SQS_CORDON_BOUND = 3.0


def _check_order(timeline):
    # Causal order of what the fakes saw; the engine's created_at is its own
    # clock, so it is only checked to precede the cordon.
    expect(timeline["received"] <= timeline["cordoned"] + 0.05,
           f"cordon before the event was received: {timeline}")
    expect(timeline["cordoned"] < timeline["pods_gone"] <= timeline["detached"],
           f"milestones out of order (cordon, pods gone, detach): {timeline}")


def test_prometheus_path(stack):
    p, timeline, flow = pipeline.run_once(stack, fast_path=False)
    print(pipeline.format_timeline(timeline, flow, "timeline, Prometheus path:"), flush=True)
    p.check_effects(flow)
    _check_order(timeline)
    expect(flow["event"]["source"].startswith("http://prometheus.pipeline.local/"),
           f"flow not started by the Prometheus alert: {flow['event']}")
    expect(timeline["cordoned"] < PROMETHEUS_CORDON_BOUND,
           f"notice -> cordon {timeline['cordoned']:.2f}s, bound {PROMETHEUS_CORDON_BOUND}s")
    counters = p.engine_counters()
    expect(counters["flows_started"] == 1, f"engine counters {counters}: want one flow")
    expect(counters["received_cloudevents"] == 0, f"no push expected: {counters}")


def test_fast_path(stack):
    p, timeline, flow = pipeline.run_once(stack, fast_path=True)
    print(pipeline.format_timeline(timeline, flow, "timeline, fast path:"), flush=True)
    p.check_effects(flow)
    _check_order(timeline)
    expect(flow["event"]["source"] == "spot-termination-exporter",
           f"flow not started by the exporter's push: {flow['event']}")
    expect(timeline["cordoned"] < FAST_CORDON_BOUND,
           f"notice -> cordon {timeline['cordoned']:.2f}s, bound {FAST_CORDON_BOUND}s")

    # The Prometheus alert for the same notice arrives too, and is absorbed.
    def prometheus_alert_absorbed():
        c = p.engine_counters()
        if c["received_prometheus"] < 1 or c["absorbed"] < 1:
            raise NotYet(f"{c}")
        return c
    counters = poll(prometheus_alert_absorbed, 15, "the Prometheus alert to be absorbed")
    expect(counters["flows_started"] == 1, f"engine counters {counters}: want one flow")
    flows = [f for f in p.flows() if f["rule"] == "drain_k8s_spot_instance"]
    expect(len(flows) == 1, f"want one flow, have {flows}")
    p.check_effects(flows[0])  # still one detach, nothing repeated


def test_sqs_path(stack):
    p, timeline, flow = pipeline.run_once(stack, fast_path=False, path="sqs")
    print(pipeline.format_timeline(timeline, flow, "timeline, SQS path:"), flush=True)
    p.check_effects(flow)
    _check_order(timeline)
    expect(flow["event"]["source"] == "aws.ec2", f"flow not started by the AWS event: {flow}")
    expect(timeline["cordoned"] < SQS_CORDON_BOUND,
           f"message -> cordon {timeline['cordoned']:.2f}s, bound {SQS_CORDON_BOUND}s")
    samples = p.engine.metrics()
    import harness
    expect(harness.metric_sum(samples, "hollowtrees_sqs_messages_deleted_total",
                              source="events") == 1, "the message was not deleted")


def test_scale_in(stack):
    p, timeline, flow = pipeline.run_once(stack, fast_path=False, path="scale-in")
    print(pipeline.format_timeline(timeline, flow, "timeline, scale-in:"), flush=True)
    p.check_effects(flow)
    expect(timeline["cordoned"] < timeline["pods_gone"] <= timeline["hook_completed"],
           f"the hook was completed before the node was drained: {timeline}")


def test_scale_in_long_drain_across_engine_restart(stack):
    import time
    p = pipeline.Pipeline(stack, False, path="scale-in")
    # A pod on the doomed node that takes 40 s to stop.
    p.kube_post("/api/v1/namespaces/shop/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "slow-to-stop", "namespace": "shop", "labels": {"app": "slow"}},
        "spec": {"nodeName": pipeline.NODE, "terminationGracePeriodSeconds": 40,
                 "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"}})
    t0 = p.switch_notice_on(hook="drain-short")  # heartbeat timeout 30 s

    def slow_pod_terminating():
        pods = [x for x in p.pods_on_node() if x["metadata"]["name"] == "slow-to-stop"]
        if not pods or not pods[0]["metadata"].get("deletionTimestamp"):
            raise NotYet(f"the slow pod: {pods}")
        return True
    poll(slow_pod_terminating, 20, "the drain to reach the slow pod")
    time.sleep(5)
    p.crash_and_restart_engine()
    timeline, flow = p.watch(t0, timeout=120)
    # (Watched only from the restart on: earlier milestones show when first seen then.)
    print(pipeline.format_timeline(timeline, flow, "timeline, long scale-in, engine restarted:"),
          flush=True)
    effects = p.check_effects(flow)
    expect(timeline["pods_gone"] >= 35, f"the drain was not long: {timeline}")
    expect(timeline["pods_gone"] <= timeline["hook_completed"],
           f"the hook was completed before the node was drained: {timeline}")
    # 40 s against a 30 s timeout: only heartbeats (every 10 s) kept it open.
    expect(effects["heartbeats"] >= 3, f"heartbeats: {effects}")


if __name__ == "__main__":
    import harness
    for name in ("hollowtrees", "ht-k8s-action-plugin", "ht-aws-asg-action-plugin",
                 "spot-termination-exporter", "fake-kube-apiserver", "fake-aws", "fake-imds"):
        if not os.access(os.path.join(harness.BIN_DIR, name), os.X_OK):
            print(f"SKIPPED: {name} is not built in {harness.BIN_DIR}", flush=True)
            print("0 passed, 0 failed", flush=True)
            sys.exit(SKIP_EXIT_CODE)
    sys.exit(harness.run_tests([test_prometheus_path, test_fast_path, test_sqs_path,
                                test_scale_in, test_scale_in_long_drain_across_engine_restart],
                               prefix="ht-pipeline"))
