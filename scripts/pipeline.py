#!/usr/bin/env python3
"""The whole Hollowtrees pipeline on one machine, on loopback.

    fake-imds ─▶ spot-termination-exporter ─▶ Prometheus ─▶ hollowtrees ─▶ ht-k8s-action-plugin ─▶ fake-kube-apiserver
                          └── --fast-path: CloudEvent push ─▶┘          └─▶ ht-aws-asg-action-plugin ─▶ fake-aws

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

Usage (HT_BIN_DIR: our binaries, default build/bin):
    scripts/pipeline.py [--fast-path] [--exit] [--imds-mode v2-only|v1-and-v2|v1-only]
                                                 # start, notice, timeline; keep running until Ctrl-C
    scripts/pipeline.py --bench N                # N runs per path; median and worst
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

# The milestones of the timeline, in the order they must happen.
MILESTONES = [
    ("notice", "notice switched on (fake IMDS)"),
    ("exporter", "exporter reports the notice"),
    ("received", "alert/event received (engine flow created)"),
    ("cordoned", "node cordoned"),
    ("pods_gone", "last evictable pod gone"),
    ("detached", "instance detached (DetachInstances)"),
    ("completed", "flow succeeded"),
]

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

    def __init__(self, stack, fast_path, imds_mode="v2-only"):
        self.stack = stack
        self.fast_path = fast_path
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
            "--state", os.path.join(TEMPLATES, "aws.json")])
        self.aws_url = f"http://127.0.0.1:{self.aws.wait_for_port()}"
        self.imds = stack.start("fake-imds", [
            harness.binary("fake-imds"), "--listen", "127.0.0.1:0", "--mode", imds_mode,
            "--instance_id", INSTANCE_ID, "--availability_zone", AZ])
        self.imds_url = f"http://127.0.0.1:{self.imds.wait_for_port()}"

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
            "--region", REGION], env={
                "AWS_ENDPOINT_URL": self.aws_url,
                "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": AWS_SECRET_ACCESS_KEY,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.path.join(work, "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(work, "no-aws-credentials"),
            })
        asg_port = self.asg_plugin.wait_for_port()

        # The engine with the example rule.
        engine_config = _render("hollowtrees.yaml", k8s_plugin=f"127.0.0.1:{k8s_port}",
                                asg_plugin=f"127.0.0.1:{asg_port}")
        self.engine = harness.start_engine(stack, engine_config)

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

    def switch_notice_on(self):
        """POSTs the spot notice to the fake IMDS (terminate in 2 minutes);
        returns the wall time just before the switch."""
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

        def since():  # taken just before each request: a milestone is at most
            return time.time() - t0  # one polling round (tens of ms) late

        while True:
            if "exporter" not in seen:
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
            if "detached" not in seen:
                t = since()
                if any(c["action"] == "DetachInstances" and not c["error"]
                       for c in self.aws_calls()):
                    seen["detached"] = t
            # The engine reports its own times (created_at, updated_at).
            flows = [f for f in self.flows() if f["rule"] == "drain_k8s_spot_instance"]
            if flows:
                flow = flows[-1]
                seen.setdefault("received", _rfc3339_to_unix(flow["created_at"]) - t0)
                if flow["state"] in ("succeeded", "failed"):
                    seen.setdefault("completed", _rfc3339_to_unix(flow["updated_at"]) - t0)
            if flow is not None and flow["state"] in ("succeeded", "failed") and all(
                    k in seen for k, _ in MILESTONES if k != "completed"):
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
    import urllib.error
    import urllib.request
    req = urllib.request.Request(pipeline.kube_url + path,
                                 headers={"Authorization": f"Bearer {KUBE_TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=5, context=pipeline.kube_ssl) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def _is_daemonset_pod(pod):
    return any(o.get("kind") == "DaemonSet" and o.get("controller")
               for o in pod["metadata"].get("ownerReferences", []))


def run_once(stack, fast_path, imds_mode="v2-only"):
    """Starts a pipeline, switches the notice on, watches it through. Returns
    (pipeline, timeline, flow)."""
    pipeline = Pipeline(stack, fast_path, imds_mode)
    t0 = pipeline.switch_notice_on()
    timeline, flow = pipeline.watch(t0)
    return pipeline, timeline, flow


def format_timeline(timeline, flow, title):
    lines = [title]
    for key, label in MILESTONES:
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


def _path_name(fast_path):
    return "fast path (exporter push)" if fast_path else "Prometheus path (scrape+eval 1s)"


def run_interactive(args):
    workdir = tempfile.mkdtemp(prefix="ht-pipeline-")
    stack = harness.Stack(workdir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with stack:
            pipeline = Pipeline(stack, args.fast_path, args.imds_mode)
            print(f"pipeline up ({_path_name(args.fast_path)}); files and logs in {workdir}")
            for name, url in [("fake IMDS", pipeline.imds_url), ("exporter", pipeline.exporter_url),
                              ("Prometheus", pipeline.prometheus.url),
                              ("engine", pipeline.engine.url), ("fake Kubernetes API", pipeline.kube_url),
                              ("fake AWS", pipeline.aws_url)]:
                print(f"  {name:20s} {url}")
            t0 = pipeline.switch_notice_on()
            timeline, flow = pipeline.watch(t0)
            print(format_timeline(timeline, flow, "timeline (from the notice):"), flush=True)
            effects = pipeline.check_effects(flow)
            print(f"effects: {NODE} cordoned, evictable pods gone, {INSTANCE_ID} detached from "
                  f"{GROUP}, replacement {effects['replacement']} launched", flush=True)
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


def run_bench(args):
    """N fresh pipelines per path; per run and in summary: notice -> event
    received by the engine, -> node cordoned, -> instance detached."""
    keys = [("received", "received"), ("cordoned", "cordon"), ("detached", "detach")]
    results = {}
    for fast_path in (False, True):
        series = {k: [] for k, _ in keys}
        for i in range(args.bench):
            workdir = tempfile.mkdtemp(prefix="ht-pipeline-bench-")
            stack = harness.Stack(workdir)
            try:
                with stack:
                    pipeline, timeline, flow = run_once(stack, fast_path, args.imds_mode)
                    pipeline.check_effects(flow)
            except Exception:
                print(f"run {i + 1} failed; files and logs kept in {workdir}", file=sys.stderr)
                raise
            shutil.rmtree(workdir, ignore_errors=True)
            for k, _ in keys:
                series[k].append(timeline[k])
            print(f"{_path_name(fast_path)} run {i + 1}/{args.bench}: " + ", ".join(
                f"notice->{label} {timeline[k] * 1000:.0f} ms" for k, label in keys), flush=True)
        results[fast_path] = series
    print()
    header = f"{'path':34s} {'runs':>4s}"
    for _, label in keys:
        header += f" {label + ' median':>16s} {label + ' worst':>15s}"
    print(header)
    for fast_path, series in results.items():
        line = f"{_path_name(fast_path):34s} {args.bench:4d}"
        for k, _ in keys:
            line += (f" {statistics.median(series[k]) * 1000:13.0f} ms"
                     f" {max(series[k]) * 1000:12.0f} ms")
        print(line)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast-path", action="store_true",
                        help="the exporter also pushes the notice to the engine (CloudEvent)")
    parser.add_argument("--exit", action="store_true",
                        help="stop everything after the timeline instead of running on")
    parser.add_argument("--imds-mode", default="v2-only",
                        choices=["v2-only", "v1-and-v2", "v1-only"],
                        help="what the fake metadata service accepts (v1-only: the exporter "
                             "falls back to IMDSv1)")
    parser.add_argument("--bench", type=int, metavar="N", default=0,
                        help="benchmark: N runs of each path; prints median and worst")
    args = parser.parse_args()
    if args.bench < 0:
        parser.error("--bench takes a positive number of runs")
    return run_bench(args) if args.bench else run_interactive(args)


if __name__ == "__main__":
    sys.exit(main())
