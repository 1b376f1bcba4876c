#!/usr/bin/env python3
"""The whole Hollowtrees pipeline on one machine, on loopback.

    fake-imds ─▶ spot-termination-exporter ─▶ Prometheus ─▶ hollowtrees ─▶ ht-k8s-action-plugin ─▶ fake-kube-apiserver
                          └── --fast-path: CloudEvent push ─▶┘    ▲     └─▶ ht-aws-asg-action-plugin ─▶ fake-aws
    --sqs, --scale-in: fake-aws's SQS queue (an EventBridge event) ──┘

One fake cluster (scripts/pipeline/cluster.json) whose node
ip-10-0-1-23.ec2.internal has providerID aws:///us-east-1a/i-0123456789abcdef0;
the same instance is in the group spot-workers of the fake AWS
(scripts/pipeline/aws.json) and is the instance the fake metadata service
reports to the exporter. Prometheus scrapes the exporter and evaluates the
alert SpotTerminationNotice every second, with --rules.alert.resend-delay=1s,
and sends alerts straight to the engine (Alertmanager API v2). The engine runs
the original example rule (drain, then replace) grouped by instance_id, so a
fast-path push and the Prometheus alert for one notice are one flow.

Switching the notice on (POST /control/spot-action on the fake IMDS) must lead
to: the node cordoned, its evictable pods gone, the instance detached from its
group with the desired capacity kept (a replacement launched). The script
prints a timeline of those moments, measured from the switch.

The SQS paths need no exporter and no Prometheus: AWS itself tells the engine.
--sqs puts the spot warning on the fake queue as EventBridge delivers it (the
same drain and replacement follow); --scale-in starts a termination lifecycle
action in the group (its hook "drain" waits) and puts its EventBridge event on
the queue: the hook is kept open with heartbeats, the node drained, then the
hook completed (CONTINUE), and the instance stays in the group until then.

Usage (HT_BIN_DIR: our binaries, default build/bin):
    scripts/pipeline.py [--fast-path | --sqs | --scale-in] [--exit]
                        [--imds-mode v2-only|v1-and-v2|v1-only]
                                                 # start, notice, timeline; keep running until Ctrl-C
    scripts/pipeline.py --bench N [--bench-sqs M]
                                                 # N runs of the Prometheus and fast paths and M
                                                 # (default 10 x N) of the SQS path, in one run
scripts/run.sh --pipeline [ARGS] builds first and then runs this.

Process control, polling and Prometheus start-up come from
tests/e2e/prometheus/harness.py; the end-to-end test
tests/e2e/pipeline/pipeline_test.py drives the functions below.
"""

import argparse
import calendar
import json
import os
import re
import shutil
import signal
import ssl
import statistics
import string
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
os.environ.setdefault("HT_SOURCE_DIR", SOURCE_DIR)
os.environ.setdefault("HT_BIN_DIR", os.path.join(SOURCE_DIR, "build", "bin"))
# Processes start in their run's temp dir: a relative HT_BIN_DIR must not be.
os.environ["HT_BIN_DIR"] = os.path.abspath(os.environ["HT_BIN_DIR"])
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "e2e", "prometheus"))

import harness  # noqa: E402  (needs the path above)
from harness import NotYet, expect, poll  # noqa: E402

TEMPLATES = os.path.join(HERE, "pipeline")

# The scenario's names (they must agree with the files under scripts/pipeline/).
INSTANCE_ID = "i-0123456789abcdef0"
AZ = "us-east-1a"
NODE = "ip-10-0-1-23.ec2.internal"
GROUP = "spot-workers"
CLUSTER = "test-cluster"
REGION = "us-east-1"
KUBE_TOKEN = "pipeline-token"
AWS_ACCESS_KEY_ID = "AKIDFAKEEXAMPLE"
AWS_SECRET_ACCESS_KEY = "fakeSecretKeyForTestsOnly/EXAMPLEKEY"
ACCOUNT = "123456789012"
QUEUE = "hollowtrees-events"
HOOK = "drain"

# The ways the notice travels.
PATHS = {
    "prometheus": "Prometheus path (scrape+eval 1s)",
    "fast": "fast path (exporter push)",
    "sqs": "SQS path (EventBridge event)",
    "scale-in": "scale-in (lifecycle hook)",
}
# The engine's rule each path starts.
RULES = {"prometheus": "drain_k8s_spot_instance", "fast": "drain_k8s_spot_instance",
         "sqs": "drain_on_aws_spot_warning", "scale-in": "scale_in"}

# The milestones of the timeline, in the order they must happen; each path
# has those of its kind.
MILESTONES = [
    ("notice", "notice (fake IMDS switched on, or the event put on the queue)"),
    ("exporter", "exporter reports the notice"),
    ("received", "alert/event received (engine flow created)"),
    ("cordoned", "node cordoned"),
    ("pods_gone", "last evictable pod gone"),
    ("detached", "instance detached (DetachInstances)"),
    ("hook_completed", "lifecycle hook completed (CompleteLifecycleAction)"),
    ("completed", "flow succeeded"),
]


def milestones_of(path):
    keys = [k for k, _ in MILESTONES]
    if path in ("sqs", "scale-in"):
        keys.remove("exporter")
    keys.remove("hook_completed" if path != "scale-in" else "detached")
    return keys

# How long a run may take from the notice to the flow's end. The drain of the
# scenario takes about 2 s; Prometheus adds a scrape, an evaluation and a send.
RUN_TIMEOUT = 60.0


def _render(template_name, **values):
    """A file of scripts/pipeline/ with its ${name} placeholders filled in."""
    with open(os.path.join(TEMPLATES, template_name)) as f:
        return string.Template(f.read()).substitute(values)


def _rfc3339_to_unix(text):
    """'2026-11-21T07:58:00.412Z' (or with +00:00) -> seconds since the epoch."""
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)$",
                 text)
    expect(m is not None, f"not an RFC 3339 time: {text!r}")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    value = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + float(m.group(7) or 0)
    zone = m.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        value -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return value


class Pipeline:
    """Every process of one pipeline, started in a harness.Stack."""

    def __init__(self, stack, fast_path, imds_mode="v2-only", path=None):
        self.stack = stack
        self.path = path or ("fast" if fast_path else "prometheus")
        self.fast_path = self.path == "fast"
        fast_path = self.fast_path
        uses_prometheus = self.path in ("prometheus", "fast")
        work = stack.workdir

        # The outside world's fakes.
        pki = os.path.join(work, "pki")
        os.makedirs(pki, exist_ok=True)
        self.kube = stack.start("fake-kube-apiserver", [
            harness.binary("fake-kube-apiserver"), "--listen", "127.0.0.1:0",
            "--make_pki", pki, "--tokens", KUBE_TOKEN,
            "--state", os.path.join(TEMPLATES, "cluster.json")])
        self.kube_url = f"https://127.0.0.1:{self.kube.wait_for_port()}"
        self.kube_ssl = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.aws = stack.start("fake-aws", [
            harness.binary("fake-aws"), "--listen", "127.0.0.1:0", "--region", REGION,
            "--state", os.path.join(TEMPLATES, "aws.json"), "--sqs_queues", QUEUE])
        self.aws_url = f"http://127.0.0.1:{self.aws.wait_for_port()}"
        self.queue_url = f"{self.aws_url}/{ACCOUNT}/{QUEUE}"
        self.imds = stack.start("fake-imds", [
            harness.binary("fake-imds"), "--listen", "127.0.0.1:0", "--mode", imds_mode,
            "--instance_id", INSTANCE_ID, "--availability_zone", AZ])
        self.imds_url = f"http://127.0.0.1:{self.imds.wait_for_port()}"
        self.aws_env = aws_env = {
            "AWS_ENDPOINT_URL": self.aws_url,
            "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET_ACCESS_KEY,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.path.join(work, "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(work, "no-aws-credentials"),
        }

        # The plugins.
        kubeconfig = os.path.join(work, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write(_render("kubeconfig", server=self.kube_url,
                            ca_file=os.path.join(pki, "ca.crt"), token=KUBE_TOKEN))
        self.k8s_plugin = stack.start("ht-k8s-action-plugin", [
            harness.binary("ht-k8s-action-plugin"), "--listen", "127.0.0.1:0",
            "--kubeconfig", kubeconfig])
        k8s_port = self.k8s_plugin.wait_for_port()
        self.asg_plugin = stack.start("ht-aws-asg-action-plugin", [
            harness.binary("ht-aws-asg-action-plugin"), "--listen", "127.0.0.1:0",
            "--region", REGION, "--lifecycle_state_file",
            os.path.join(work, "asg-lifecycle.json")], env=aws_env)
        asg_port = self.asg_plugin.wait_for_port()

        # The engine with the example rule (and, for the SQS paths, the queue).
        sources = ""
        if not uses_prometheus:
            sources = (f"sources:\n  sqs:\n    - name: events\n"
                       f"      queue_url: \"{self.queue_url}\"\n      region: {REGION}")
        engine_config = _render("hollowtrees.yaml", k8s_plugin=f"127.0.0.1:{k8s_port}",
                                asg_plugin=f"127.0.0.1:{asg_port}", sources=sources)
        self.engine = harness.start_engine(stack, engine_config, env=aws_env)
        if not uses_prometheus:
            self.group_before = self._group(self.aws_state())
            return

        # The exporter, reading the fake IMDS; with the fast path it also pushes
        # the notice to the engine.
        exporter_argv = [
            harness.binary("spot-termination-exporter"), "--bind-addr", "127.0.0.1:0",
            "--metadata-endpoint", f"{self.imds_url}/latest/meta-data/",
            "--poll-interval", "1s", "--log-level", "info"]
        if fast_path:
            exporter_argv += ["--notify-url", f"{self.engine.url}/api/v1/events",
                              "--node-name", NODE, "--notify-label", f"cluster_name={CLUSTER}"]
        self.exporter = stack.start("spot-termination-exporter", exporter_argv)
        self.exporter_url = f"http://127.0.0.1:{self.exporter.wait_for_port()}"

        # Prometheus: scrape the exporter, evaluate the alert, send to the engine.
        prom_config = _render("prometheus.yml", exporter=self.exporter_url[len("http://"):],
                              engine=self.engine.url[len("http://"):])
        with open(os.path.join(TEMPLATES, "alert-rules.yml")) as f:
            rules = f.read()
        self.prometheus = harness.start_prometheus(stack, prom_config, rules,
                                                   external_url="http://prometheus.pipeline.local/")
        self._wait_until_armed()
        self.group_before = self._group(self.aws_state())

    @staticmethod
    def _group(state):
        group = next((g for g in state["groups"] if g["name"] == GROUP), None)
        expect(group is not None, f"no group {GROUP} on the fake AWS: {state}")
        members = sorted(i["id"] for i in state["instances"] if i.get("group") == GROUP)
        return group, members

    # -- readiness -----------------------------------------------------------

    def _wait_until_armed(self):
        """Until the notice would travel the whole way: the exporter knows the
        instance, Prometheus has scraped that series and lists the engine as an
        active Alertmanager (its service discovery hands targets over only
        after up to 5 s; alerts before that are dropped)."""
        def exporter_ready():
            samples = harness.scrape(self.exporter_url + "/metrics")
            ok = harness.metric_sum(samples, "aws_instance_metadata_service_available",
                                    instance_id=INSTANCE_ID) == 1
            if not ok:
                raise NotYet("aws_instance_metadata_service_available not 1 for the instance")
            return True
        poll(exporter_ready, 20, "the exporter to read the fake IMDS")

        def prometheus_ready():
            q = urllib.parse.quote(f'aws_instance_termination_imminent{{instance_id="{INSTANCE_ID}"}}')
            body = json.loads(harness.http_get_ok(f"{self.prometheus.url}/api/v1/query?query={q}"))
            if not body["data"]["result"]:
                raise NotYet("no scraped aws_instance_termination_imminent yet")
            ams = json.loads(harness.http_get_ok(f"{self.prometheus.url}/api/v1/alertmanagers"))
            if not ams["data"]["activeAlertmanagers"]:
                raise NotYet("Prometheus has no active Alertmanager (the engine) yet")
            return True
        poll(prometheus_ready, 30, "Prometheus to scrape the exporter and know the engine",
             interval=0.1)

    # -- reading the fakes ---------------------------------------------------

    def kube_get(self, path):
        status, body = _kube_get(self, path)
        expect(status == 200, f"GET {path} on the fake Kubernetes API: {status} {body[:300]}")
        return json.loads(body)

    def node(self):
        return self.kube_get(f"/api/v1/nodes/{NODE}")

    def pods_on_node(self):
        sel = urllib.parse.quote(f"spec.nodeName={NODE}")
        return self.kube_get(f"/api/v1/pods?fieldSelector={sel}")["items"]

    def aws_calls(self):
        return json.loads(harness.http_get_ok(self.aws_url + "/control/calls"))

    def aws_state(self):
        return json.loads(harness.http_get_ok(self.aws_url + "/control/state"))

    def flows(self):
        return json.loads(harness.http_get_ok(self.engine.url + "/api/v1/flows"))["flows"]

    # -- the notice ----------------------------------------------------------

    def sqs_send(self, event):
        status, body = harness.http_post_json(self.aws_url + "/control/sqs/send",
                                              {"queue": QUEUE, "body": json.dumps(event)})
        expect(status == 200, f"fake SQS /control/sqs/send: {status} {body}")

    def lifecycle_actions(self):
        return json.loads(harness.http_get_ok(self.aws_url + "/control/lifecycle/actions"))

    def kube_post(self, path, obj):
        status, body = _kube_request(self, "POST", path, obj)
        expect(status in (200, 201), f"POST {path} on the fake Kubernetes API: {status} {body[:300]}")
        return json.loads(body)

    def crash_and_restart_engine(self):
        """SIGKILLs the engine (no shutdown, as in a crash or an OOM kill) and
        starts it again on the same port and data dir: the journal resumes
        its flows."""
        os.kill(self.engine.process.pid, signal.SIGKILL)
        self.stack.stop(self.engine.process)
        p = self.stack.start("hollowtrees-restarted", [
            harness.binary("hollowtrees"), "--config", self.engine.config_path, "--listen",
            f"127.0.0.1:{self.engine.port}", "--data-dir", self.engine.data_dir,
            "--log-level", "debug"], env=self.aws_env)
        self.engine = harness.Engine(p, p.wait_for_port(), self.engine.config_path,
                                     self.engine.data_dir)
        harness.wait_http_ok(self.engine.url + "/readyz", what="the restarted engine's /readyz")

    def switch_notice_on(self, hook=HOOK):
        """Starts the notice the path is about; returns the wall time just
        before. Prometheus and fast paths: the spot notice on the fake IMDS
        (terminate in 2 minutes). SQS: the EventBridge spot warning put on the
        queue. Scale-in: a termination lifecycle action started in the group,
        and its EventBridge event put on the queue."""
        if self.path == "sqs":
            t0 = time.time()
            self.sqs_send({
                "version": "0", "id": f"spot-{INSTANCE_ID}-{t0:.3f}",
                "detail-type": "EC2 Spot Instance Interruption Warning", "source": "aws.ec2",
                "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
                "region": REGION, "resources": [f"arn:aws:ec2:{AZ}:instance/{INSTANCE_ID}"],
                "detail": {"instance-id": INSTANCE_ID, "instance-action": "terminate"}})
            return t0
        if self.path == "scale-in":
            t0 = time.time()
            status, body = harness.http_post_json(
                self.aws_url + "/control/lifecycle/start",
                {"instance_id": INSTANCE_ID, "transition": "terminating", "hook": hook})
            expect(status == 200, f"fake AWS /control/lifecycle/start: {status} {body}")
            self.token = json.loads(body)["token"]
            self.sqs_send({
                "version": "0", "id": f"lifecycle-{self.token}",
                "detail-type": "EC2 Instance-terminate Lifecycle Action",
                "source": "aws.autoscaling", "account": ACCOUNT,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)), "region": REGION,
                "resources": [f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:x:"
                              f"autoScalingGroupName/{GROUP}"],
                "detail": {"LifecycleActionToken": self.token, "AutoScalingGroupName": GROUP,
                           "LifecycleHookName": hook, "EC2InstanceId": INSTANCE_ID,
                           "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
                           "Origin": "AutoScalingGroup", "Destination": "EC2"}})
            return t0
        t0 = time.time()
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 120))
        status, body = harness.http_post_json(self.imds_url + "/control/spot-action",
                                              {"action": "terminate", "time": when})
        expect(status == 200, f"fake IMDS /control/spot-action: {status} {body}")
        return t0

    def watch(self, t0, timeout=RUN_TIMEOUT):
        """Polls every fake and the engine until the flow has ended, recording
        the first moment each milestone was seen (seconds after t0). Returns
        the timeline {milestone: seconds} and the final flow."""
        seen = {"notice": 0.0}
        flow = None
        deadline = time.monotonic() + timeout
        wanted = milestones_of(self.path)

        def since():  # taken just before each request: a milestone is at most
            return time.time() - t0  # one polling round (tens of ms) late

        while True:
            if "exporter" in wanted and "exporter" not in seen:
                t = since()
                samples = harness.scrape(self.exporter_url + "/metrics")
                if harness.metric_sum(samples, "aws_instance_termination_imminent",
                                      instance_id=INSTANCE_ID, instance_action="terminate") == 1:
                    seen["exporter"] = t
            if "cordoned" not in seen:
                t = since()
                if self.node().get("spec", {}).get("unschedulable"):
                    seen["cordoned"] = t
            if "cordoned" in seen and "pods_gone" not in seen:
                t = since()
                if not [p for p in self.pods_on_node() if not _is_daemonset_pod(p)]:
                    seen["pods_gone"] = t
            if "detached" in wanted and "detached" not in seen:
                t = since()
                if any(c["action"] == "DetachInstances" and not c["error"]
                       for c in self.aws_calls()):
                    seen["detached"] = t
            if "hook_completed" in wanted and "hook_completed" not in seen:
                t = since()
                if any(a["token"] == self.token and a["completed"]
                       for a in self.lifecycle_actions()):
                    seen["hook_completed"] = t
            # The engine reports its own times (created_at, updated_at).
            flows = [f for f in self.flows() if f["rule"] == RULES[self.path]]
            if flows:
                flow = flows[-1]
                seen.setdefault("received", _rfc3339_to_unix(flow["created_at"]) - t0)
                if flow["state"] in ("succeeded", "failed"):
                    seen.setdefault("completed", _rfc3339_to_unix(flow["updated_at"]) - t0)
            if flow is not None and flow["state"] in ("succeeded", "failed") and all(
                    k in seen for k in wanted if k != "completed"):
                return seen, flow
            if flow is not None and flow["state"] == "failed":
                return seen, flow
            if time.monotonic() > deadline:
                raise harness.TestFailure(
                    f"the pipeline did not finish within {timeout}s; seen {seen}; flow {flow}")
            time.sleep(0.02)

    # -- the effects ---------------------------------------------------------

    def check_effects(self, flow):
        """Every effect of the notice, read from the fakes' own state."""
        expect(flow["state"] == "succeeded", f"flow did not succeed: {json.dumps(flow)}")
        steps = [(s["plugin"], s["state"]) for s in flow["steps"]]
        if self.path == "scale-in":
            return self._check_scale_in(flow, steps)
        expect(steps == [("ht-k8s-action-plugin", "done"), ("ht-aws-asg-action-plugin", "done")],
               f"plugin steps {steps}, want drain then replace, both done")
        expect(self.node()["spec"].get("unschedulable") is True, "the node is not cordoned")
        left = self.pods_on_node()
        names = sorted(p["metadata"]["name"] for p in left)
        expect(names == ["node-exporter-x7k2p"],
               f"pods left on {NODE}: {names}; want only the DaemonSet pod")
        # The ReplicaSets' pods were replaced on the other node.
        sel = urllib.parse.quote("app=web")
        web = self.kube_get(f"/api/v1/namespaces/shop/pods?labelSelector={sel}")["items"]
        expect(len(web) == 3 and all(p["spec"].get("nodeName") != NODE for p in web),
               f"web pods after the drain: {[(p['metadata']['name'], p['spec'].get('nodeName')) for p in web]}")
        calls = self.aws_calls()
        detaches = [c for c in calls if c["action"] == "DetachInstances" and not c["error"]]
        expect(len(detaches) == 1, f"want one DetachInstances, calls: {calls}")
        params = detaches[0]["params"]
        expect(params.get("InstanceIds.member.1") == INSTANCE_ID
               and params.get("AutoScalingGroupName") == GROUP
               and params.get("ShouldDecrementDesiredCapacity") == "false",
               f"DetachInstances params {params}")
        before, members_before = self.group_before
        expect(INSTANCE_ID in members_before, f"{INSTANCE_ID} was not in {GROUP} at the start")
        group, members = self._group(self.aws_state())
        expect(group["desired"] == before["desired"],
               f"desired capacity {group['desired']}, want {before['desired']} (kept)")
        expect(INSTANCE_ID not in members, f"{INSTANCE_ID} still in {GROUP}: {members}")
        new = set(members) - set(members_before)
        expect(len(new) == 1 and len(members) == len(members_before),
               f"want one replacement instance in {GROUP}: before {members_before}, "
               f"after {members}")
        return {"replacement": new.pop()}

    def _check_scale_in(self, flow, steps):
        """The hook kept open, the node drained, then the hook completed with
        CONTINUE; the instance left in its group for Auto Scaling to end."""
        want = [("ht-aws-asg-action-plugin", "done"), ("ht-k8s-action-plugin", "done"),
                ("ht-aws-asg-action-plugin", "done")]
        expect(steps == want, f"plugin steps {steps}, want heartbeat, drain, complete")
        expect(self.node()["spec"].get("unschedulable") is True, "the node is not cordoned")
        left = sorted(p["metadata"]["name"] for p in self.pods_on_node())
        expect(left == ["node-exporter-x7k2p"], f"pods left on {NODE}: {left}")
        action = next((a for a in self.lifecycle_actions() if a["token"] == self.token), None)
        expect(action is not None and action["completed"] and action["result"] == "CONTINUE"
               and not action["expired"], f"the lifecycle action: {action}")
        expect(action["heartbeats"] >= 1, f"no heartbeat kept the hook open: {action}")
        calls = self.aws_calls()
        completes = [i for i, c in enumerate(calls)
                     if c["action"] == "CompleteLifecycleAction" and not c["error"]]
        expect(len(completes) == 1, f"want one CompleteLifecycleAction, calls: {calls}")
        expect(not any(c["action"] == "DetachInstances" for c in calls),
               "a scale-in must not detach (the group terminates the instance itself)")
        _, members = self._group(self.aws_state())
        expect(INSTANCE_ID in members, f"{INSTANCE_ID} left {GROUP} before Auto Scaling ended it")
        return {"heartbeats": action["heartbeats"]}

    def engine_counters(self):
        samples = self.engine.metrics()
        return {
            "flows_started": harness.metric_sum(samples, "hollowtrees_flows_started_total"),
            "absorbed": harness.metric_sum(samples, "hollowtrees_flows_absorbed_total"),
            "received_prometheus": harness.metric_sum(
                samples, "hollowtrees_events_received_total", source="prometheus"),
            "received_cloudevents": harness.metric_sum(
                samples, "hollowtrees_events_received_total", source="cloudevents"),
        }


def _kube_get(pipeline, path):
    """GET on the fake API server over TLS (harness.http_request has no TLS
    context parameter). Returns (status, body)."""
    return _kube_request(pipeline, "GET", path)


def _kube_request(pipeline, method, path, obj=None):
    import urllib.error
    import urllib.request
    headers = {"Authorization": f"Bearer {KUBE_TOKEN}"}
    data = None
    if obj is not None:
        data = json.dumps(obj).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(pipeline.kube_url + path, data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5, context=pipeline.kube_ssl) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def _is_daemonset_pod(pod):
    return any(o.get("kind") == "DaemonSet" and o.get("controller")
               for o in pod["metadata"].get("ownerReferences", []))


def run_once(stack, fast_path, imds_mode="v2-only", path=None):
    """Starts a pipeline, switches the notice on, watches it through. Returns
    (pipeline, timeline, flow)."""
    pipeline = Pipeline(stack, fast_path, imds_mode, path)
    t0 = pipeline.switch_notice_on()
    timeline, flow = pipeline.watch(t0)
    return pipeline, timeline, flow


def format_timeline(timeline, flow, title):
    lines = [title]
    for key, label in MILESTONES:
        if key not in timeline and key in ("exporter", "detached", "hook_completed"):
            continue  # not a milestone of this path
        value = timeline.get(key)
        shown = f"{value * 1000:8.0f} ms" if value is not None else "     (not seen)"
        lines.append(f"  {shown}  {label}")
    if flow:
        lines.append(f"  flow {flow['id']} {flow['state']}: started by {flow['event']['source']}")
        for s in flow.get("steps", []):
            lines.append(f"    {s['plugin']}: {s['state']}: {s.get('message', '')}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Command line


def _path_of(args):
    if args.sqs:
        return "sqs"
    if args.scale_in:
        return "scale-in"
    return "fast" if args.fast_path else "prometheus"


def run_interactive(args):
    workdir = tempfile.mkdtemp(prefix="ht-pipeline-")
    stack = harness.Stack(workdir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    path = _path_of(args)
    try:
        with stack:
            pipeline = Pipeline(stack, path == "fast", args.imds_mode, path)
            print(f"pipeline up ({PATHS[path]}); files and logs in {workdir}")
            urls = [("fake IMDS", pipeline.imds_url)]
            if path in ("prometheus", "fast"):
                urls += [("exporter", pipeline.exporter_url),
                         ("Prometheus", pipeline.prometheus.url)]
            else:
                urls += [("fake SQS queue", pipeline.queue_url)]
            urls += [("engine", pipeline.engine.url), ("fake Kubernetes API", pipeline.kube_url),
                     ("fake AWS", pipeline.aws_url)]
            for name, url in urls:
                print(f"  {name:20s} {url}")
            t0 = pipeline.switch_notice_on()
            timeline, flow = pipeline.watch(t0)
            print(format_timeline(timeline, flow, "timeline (from the notice):"), flush=True)
            effects = pipeline.check_effects(flow)
            if path == "scale-in":
                print(f"effects: {NODE} cordoned and drained while the hook was kept open "
                      f"({effects['heartbeats']} heartbeats), then the hook completed "
                      f"(CONTINUE); {INSTANCE_ID} stays in {GROUP} for Auto Scaling to "
                      f"terminate", flush=True)
            else:
                print(f"effects: {NODE} cordoned, evictable pods gone, {INSTANCE_ID} detached "
                      f"from {GROUP}, replacement {effects['replacement']} launched", flush=True)
            if not args.exit:
                print("running; Ctrl-C stops everything", flush=True)
                try:
                    while not stop.wait(0.5):
                        pass
                except KeyboardInterrupt:
                    pass
        return 0
    except harness.TestFailure as e:
        print(f"pipeline failed: {e}\nlogs in {workdir}", file=sys.stderr)
        return 1


def _percentile(values, q):
    """The q-quantile (0..1) by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def run_bench(args):
    """Fresh pipelines per path, in one run: N of the Prometheus and fast
    paths, M of the SQS path; per run and in summary: notice -> event
    received by the engine, -> node cordoned, -> instance detached; for the
    SQS path also the 99th percentile."""
    keys = [("received", "received"), ("cordoned", "cordon"), ("detached", "detach")]
    runs = {"prometheus": args.bench, "fast": args.bench,
            "sqs": args.bench_sqs if args.bench_sqs else 10 * args.bench}
    results = {}
    for path, n in runs.items():
        series = {k: [] for k, _ in keys}
        for i in range(n):
            workdir = tempfile.mkdtemp(prefix="ht-pipeline-bench-")
            stack = harness.Stack(workdir)
            try:
                with stack:
                    pipeline, timeline, flow = run_once(stack, path == "fast", args.imds_mode,
                                                        path)
                    pipeline.check_effects(flow)
            except Exception:
                print(f"run {i + 1} failed; files and logs kept in {workdir}", file=sys.stderr)
                raise
            shutil.rmtree(workdir, ignore_errors=True)
            for k, _ in keys:
                series[k].append(timeline[k])
            print(f"{PATHS[path]} run {i + 1}/{n}: " + ", ".join(
                f"notice->{label} {timeline[k] * 1000:.0f} ms" for k, label in keys), flush=True)
        results[path] = series
    print()
    header = f"{'path':34s} {'runs':>4s}"
    for _, label in keys:
        header += f" {label + ' median':>16s} {label + ' p99':>13s} {label + ' worst':>15s}"
    print(header)
    for path, series in results.items():
        line = f"{PATHS[path]:34s} {len(series['received']):4d}"
        for k, _ in keys:
            line += (f" {statistics.median(series[k]) * 1000:13.0f} ms"
                     f" {_percentile(series[k], 0.99) * 1000:10.0f} ms"
                     f" {max(series[k]) * 1000:12.0f} ms")
        print(line)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--fast-path", action="store_true",
                       help="the exporter also pushes the notice to the engine (CloudEvent)")
    which.add_argument("--sqs", action="store_true",
                       help="AWS tells the engine: the spot warning as an EventBridge event on "
                            "the fake SQS queue (no exporter, no Prometheus)")
    which.add_argument("--scale-in", action="store_true",
                       help="a scale-in: a termination lifecycle action, its event on the queue; "
                            "heartbeats, drain, then the hook completed")
    parser.add_argument("--exit", action="store_true",
                        help="stop everything after the timeline instead of running on")
    parser.add_argument("--imds-mode", default="v2-only",
                        choices=["v2-only", "v1-and-v2", "v1-only"],
                        help="what the fake metadata service accepts (v1-only: the exporter "
                             "falls back to IMDSv1)")
    parser.add_argument("--bench", type=int, metavar="N", default=0,
                        help="benchmark: N runs of the Prometheus and fast paths; prints median, "
                             "99th percentile and worst")
    parser.add_argument("--bench-sqs", type=int, metavar="M", default=0,
                        help="with --bench: M runs of the SQS path (default 10 x N)")
    args = parser.parse_args()
    if args.bench < 0 or args.bench_sqs < 0:
        parser.error("--bench and --bench-sqs take a positive number of runs")
    return run_bench(args) if args.bench else run_interactive(args)


if __name__ == "__main__":
    sys.exit(main())
