#!/usr/bin/env python3
"""The engine's SQS source end to end: the real `hollowtrees` binary polls a
queue of the fake AWS (tests/fakes/aws: SQS over the JSON 1.0 protocol, EC2
DescribeInstances with tags, SigV4 checked) and calls a recording plugin.

  - a spot warning for an instance of the cluster is taken with the
    instance's labels (cluster_name from its tag, type, zone, group), the
    plugin is called once, and the message is deleted;
  - the same event again (a redelivery) is one flow, and its message is
    deleted too; so is the Prometheus alert for the same interruption (one
    rule takes both types and groups by instance_id): absorbed, no second
    call;
  - a warning for another cluster's instance (one queue per account) leads to
    no plugin call, and is deleted;
  - junk changes nothing: an unknown kind and a test notification are
    deleted, a malformed message is left for the redrive policy, and none
    holds up the event after them;
  - an instance EC2 no longer knows still gets its event (a lifecycle
    action, with the labels the message carries);
  - events put on the queue while the engine is stopped are acted on once it
    is back (the queue keeps them; nothing was lost);
  - from a message's sending to the plugin's call, latency printed.

Python 3 standard library only; harness from tests/e2e/prometheus. Prints
"N passed, M failed" last.
"""
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "prometheus"))

import harness  # noqa: E402
from harness import NotYet, expect, poll  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUE = "hollowtrees-events"
KEY_ID = "AKIDFAKEEXAMPLE"
SECRET = "fakeSecretKeyForTestsOnly/EXAMPLEKEY"
PROD = "i-0aaaaaaaaaaaaaaa1"
PROD_2 = "i-0aaaaaaaaaaaaaaa2"
OTHER = "i-0bbbbbbbbbbbbbbb1"
GONE = "i-0ccccccccccccccc1"
WAIT = 15  # seconds for anything to happen

AWS_STATE = {
    "groups": [{"name": "prod-workers", "min_size": 1, "max_size": 4, "desired": 2,
                "azs": ["us-east-1a", "us-east-1b"]}],
    "instances": [
        {"id": PROD, "type": "m5.large", "az": "us-east-1a", "group": "prod-workers",
         "tags": {"eks:cluster-name": "prod", "aws:autoscaling:groupName": "prod-workers"}},
        {"id": PROD_2, "type": "c5.xlarge", "az": "us-east-1b", "group": "prod-workers",
         "tags": {"kubernetes.io/cluster/prod": "owned"}},
        {"id": OTHER, "type": "m5.large", "az": "us-east-1a",
         "tags": {"eks:cluster-name": "staging"}},
    ],
}

ENGINE_CONFIG = """
sources:
  sqs:
    - name: events
      queue_url: "{queue_url}"
      region: {region}
action_plugins:
  - name: recorder
    address: "{plugin}"
    timeout: 10s
rules:
  - name: spot_prod
    event_types: [aws.ec2.spot-interruption-warning, prometheus.server.alert.SpotTerminationNotice]
    match:
      - cluster_name: prod
    group_by: [instance_id]
    cooldown: 10m
    action_plugins: [recorder]
  - name: scale_in
    event_type: aws.autoscaling.terminate-lifecycle-action
    group_by: [instance_id]
    action_plugins: [recorder]
"""


def spot_warning(event_id, instance, sent=None):
    return {"version": "0", "id": event_id, "detail-type": "EC2 Spot Instance Interruption Warning",
            "source": "aws.ec2", "account": ACCOUNT,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent or time.time())),
            "region": REGION, "resources": [f"arn:aws:ec2:{REGION}a:instance/{instance}"],
            "detail": {"instance-id": instance, "instance-action": "terminate"}}


def lifecycle_direct(request_id, instance):
    return {"Origin": "AutoScalingGroup", "LifecycleHookName": "drain", "Destination": "EC2",
            "AccountId": ACCOUNT, "RequestId": request_id,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
            "AutoScalingGroupName": "prod-workers", "Service": "AWS Auto Scaling",
            "Time": "2026-12-06T10:00:00.000Z", "EC2InstanceId": instance,
            "LifecycleActionToken": "71514b9d-6a40-4b26-8523-05e7e0000001"}


class FakeAws:
    def __init__(self, stack):
        state = os.path.join(stack.workdir, "aws.json")
        with open(state, "w") as f:
            json.dump(AWS_STATE, f)
        self.process = stack.start("fake-aws", [
            harness.binary("fake-aws"), "--listen", "127.0.0.1:0", "--region", REGION,
            "--state", state, "--sqs_queues", QUEUE])
        self.url = f"http://127.0.0.1:{self.process.wait_for_port()}"
        self.queue_url = f"{self.url}/{ACCOUNT}/{QUEUE}"

    def send(self, body):
        text = body if isinstance(body, str) else json.dumps(body)
        status, answer = harness.http_post_json(self.url + "/control/sqs/send",
                                                {"queue": QUEUE, "body": text})
        expect(status == 200, f"sending to the fake queue: {status} {answer}")
        return time.monotonic()

    def counts(self):
        status, body = harness.http_request(
            "GET", self.url + "/control/sqs/counts?queue=" + urllib.parse.quote(QUEUE))
        expect(status == 200, f"queue counts: {status} {body}")
        return json.loads(body)


def start_engine(stack, aws, plugin, name="hollowtrees", data_dir=None, port=0):
    config = os.path.join(stack.workdir, "hollowtrees.yaml")
    with open(config, "w") as f:
        f.write(ENGINE_CONFIG.format(queue_url=aws.queue_url, region=REGION,
                                     plugin=plugin.address))
    harness.check_engine_config(config)
    data_dir = data_dir or os.path.join(stack.workdir, "data")
    os.makedirs(data_dir, exist_ok=True)
    env = {"AWS_ENDPOINT_URL": aws.url, "AWS_ACCESS_KEY_ID": KEY_ID,
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": os.path.join(stack.workdir, "no-aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(stack.workdir, "no-aws-credentials")}
    p = stack.start(name, [harness.binary("hollowtrees"), "--config", config, "--listen",
                           f"127.0.0.1:{port}", "--data-dir", data_dir, "--log-level", "debug"],
                    env=env)
    engine = harness.Engine(p, p.wait_for_port(), config, data_dir)
    harness.wait_http_ok(engine.url + "/readyz", what="the engine's /readyz")
    return engine


def calls_for(plugin, instance):
    return [r for r in plugin.records() if r.get("labels", {}).get("instance_id") == instance]


def metric(engine, name, **labels):
    return harness.metric_sum(engine.metrics(), name, **labels)


def test_sqs_events_drive_the_engine(stack):
    aws = FakeAws(stack)
    plugin = harness.start_log_plugin(stack, "recorder")
    engine = start_engine(stack, aws, plugin)

    # 1. A spot warning for the cluster's instance: one call, labels from EC2.
    sent = aws.send(spot_warning("ev-spot-1", PROD))
    calls = poll(lambda: calls_for(plugin, PROD) or None, WAIT, "the plugin call for " + PROD)
    latency = time.monotonic() - sent
    labels = calls[0]["labels"]
    expect(calls[0].get("rule") == "spot_prod", f"rule: {calls[0]!r}")
    want = {"instance_id": PROD, "cluster_name": "prod", "instance_type": "m5.large",
            "availability_zone": "us-east-1a", "autoscaling_group": "prod-workers",
            "instance_action": "terminate", "region": REGION, "account": ACCOUNT}
    for k, v in want.items():
        expect(labels.get(k) == v, f"label {k}: want {v!r}, got {labels.get(k)!r} in {labels}")
    print(f"  message sent -> plugin called: {latency * 1000:.0f} ms", flush=True)

    def drained():
        c = aws.counts()
        if c["visible"] or c["in_flight"]:
            raise NotYet(f"queue: {c}")
        return c
    counts = poll(drained, WAIT, "the message to be deleted")
    expect(counts["deleted"] == 1, f"deleted: {counts}")

    # 2. The same event again (a redelivery): absorbed, still deleted.
    aws.send(spot_warning("ev-spot-1", PROD))
    poll(lambda: aws.counts()["deleted"] == 2 or None, WAIT, "the redelivered message deleted")
    expect(len(calls_for(plugin, PROD)) == 1, f"calls: {calls_for(plugin, PROD)}")
    expect(metric(engine, "hollowtrees_events_duplicate_total", source="sqs") == 1,
           "the redelivery counted as a duplicate")
    # The Prometheus alert for the same interruption: one flow still.
    status, body = harness.http_post_json(engine.url + "/api/v2/alerts", [{
        "labels": {"alertname": "SpotTerminationNotice", "instance_id": PROD,
                   "cluster_name": "prod"},
        "annotations": {}, "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}])
    expect(status == 200, f"the alert: {status} {body}")
    poll(lambda: metric(engine, "hollowtrees_flows_absorbed_total", rule="spot_prod") >= 1 or None,
         WAIT, "the alert absorbed by the running or cooling flow")
    expect(len(calls_for(plugin, PROD)) == 1, f"calls after the alert: {calls_for(plugin, PROD)}")

    # 3. Another cluster's instance: no rule acts; the message is deleted.
    aws.send(spot_warning("ev-spot-other", OTHER))
    poll(lambda: aws.counts()["deleted"] == 3 or None, WAIT, "the other cluster's message deleted")
    poll(lambda: metric(engine, "hollowtrees_events_unmatched_total") >= 1 or None, WAIT,
         "the other cluster's event unmatched")
    expect(not calls_for(plugin, OTHER), f"a call for another cluster: {calls_for(plugin, OTHER)}")

    # 4. Junk, then an event: the event is not held up.
    aws.send("this is not JSON")
    aws.send({"version": "0", "id": "ami-1", "detail-type": "EC2 AMI State Change",
              "source": "aws.ec2", "account": ACCOUNT, "time": "2026-12-06T10:00:00Z",
              "region": REGION, "resources": [], "detail": {"State": "available"}})
    aws.send({"AccountId": ACCOUNT, "RequestId": "req-test", "Service": "AWS Auto Scaling",
              "Event": "autoscaling:TEST_NOTIFICATION", "AutoScalingGroupName": "prod-workers",
              "Time": "2026-12-06T10:00:00.000Z"})
    aws.send(spot_warning("ev-spot-2", PROD_2))
    calls = poll(lambda: calls_for(plugin, PROD_2) or None, WAIT, "the call after the junk")
    expect(calls[0]["labels"].get("cluster_name") == "prod",
           f"cluster_name from kubernetes.io/cluster/prod=owned: {calls[0]['labels']}")

    def junk_settled():
        c = aws.counts()
        # Deleted: the unknown kind, the test notification, the event. Left:
        # the malformed message (in flight, or visible again later).
        if c["deleted"] != 6:
            raise NotYet(f"queue: {c}")
        return c
    counts = poll(junk_settled, WAIT, "the junk handled")
    expect(counts["visible"] + counts["in_flight"] == 1, f"the malformed message left: {counts}")
    for reason in ("malformed", "unknown", "test_notification"):
        expect(metric(engine, "hollowtrees_sqs_messages_ignored_total", source="events",
                      reason=reason) == 1, f"ignored {reason}")

    # 5. An instance EC2 does not know: the event still comes, with the
    # message's labels.
    aws.send(lifecycle_direct("req-gone-1", GONE))
    calls = poll(lambda: calls_for(plugin, GONE) or None, WAIT, "the call for the gone instance")
    labels = calls[0]["labels"]
    expect(calls[0].get("rule") == "scale_in", f"rule: {calls[0]!r}")
    for k, v in {"lifecycle_hook": "drain", "autoscaling_group": "prod-workers",
                 "lifecycle_action_token": "71514b9d-6a40-4b26-8523-05e7e0000001",
                 "region": REGION}.items():
        expect(labels.get(k) == v, f"label {k}: want {v!r}, got {labels.get(k)!r}")
    expect("instance_type" not in labels, f"labels of a gone instance: {labels}")

    # 6. Stopped engine: the queue keeps what arrives; after the restart it
    # is acted on. (SQS may hand it to the stopped engine's abandoned long
    # poll: then it is back after its visibility timeout, 30 s.)
    code = stack.stop(engine.process)
    expect(code == 0, f"the engine exited {code} on SIGTERM")
    aws.send(lifecycle_direct("req-while-down", PROD_2))
    time.sleep(0.5)
    expect(not [c for c in calls_for(plugin, PROD_2) if c.get("rule") == "scale_in"],
           "a call while the engine was down")
    engine = start_engine(stack, aws, plugin, name="hollowtrees-2", data_dir=engine.data_dir)
    poll(lambda: [c for c in calls_for(plugin, PROD_2) if c.get("rule") == "scale_in"] or None,
         30 + WAIT, "the event sent while the engine was down")
    expect(len(calls_for(plugin, PROD)) == 1, "the first event was not acted on again")

    # The engine's own account of it.
    expect(metric(engine, "hollowtrees_sqs_receive_errors_total", source="events") == 0,
           "receive errors")
    calls = aws_calls(aws)
    expect(any(c.get("action") == "DescribeInstances" for c in calls),
           "EC2 DescribeInstances was called")
    expect(all(c.get("protocol") == "json" for c in calls if c.get("service") == "sqs"),
           "every SQS call over the JSON 1.0 protocol")


def aws_calls(aws):
    status, body = harness.http_request("GET", aws.url + "/control/calls")
    expect(status == 200, f"calls: {status}")
    return json.loads(body)


if __name__ == "__main__":
    harness.main([test_sqs_events_drive_the_engine], "ht-e2e-sqs")
