#!/usr/bin/env python3
"""High availability end to end: three real `hollowtrees` processes with
`ha:` share one Lease and their state in the fake Kubernetes API server
(tests/fakes/kube: Leases and ConfigMaps with resourceVersion semantics), and
call two real recording plugins (a two-step chain; the first step is slow, so
a call is in flight when the leader is hurt). Alerts go to every replica, as
Prometheus sends them.

  - one leader: exactly one replica acts (/api/v1/status, hollowtrees_leader),
    all agree who; an alert sent to all three is one flow, each step called
    once; an event sent to a follower only gets its flow too (the inbox);
  - SIGKILL of the leader while a plugin call is in flight, under a stream
    of alerts: a successor resumes the flow (the step in flight again, same
    event id, next attempt), nothing finished is repeated, and every alert
    any replica acknowledged gets its flow;
  - SIGSTOP of the leader past its Lease, SIGCONT after a successor has
    acted: it makes no plugin call afterwards and reports itself a follower;
  - SIGTERM of the leader: the Lease is released, a successor leads at once
    (hand-over time printed);
  - a replica restarted with its data directory stays a follower;
  - only the leader polls the SQS queue (the fake AWS), and its successor
    takes the polling over.

Every check reads the plugins' records of their calls (flow id, event id,
attempt) and the engines' own answers. Python 3 standard library only;
harness from tests/e2e/prometheus. Prints "N passed, M failed" last.
"""
import json
import os
import signal
import ssl
import sys
import urllib.request
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "prometheus"))

import harness  # noqa: E402
from harness import NotYet, expect, poll  # noqa: E402

TOKEN = "ha-e2e-token"
NAMESPACE = "hollowtrees"
LEASE = "ht-engine"
LEASE_DURATION = 3  # seconds; renew_deadline 2s, retry_period 250ms
SLOW_STEP = 2.0     # seconds the first plugin spends on each call
WAIT = 30

SQS_SOURCES = """
sources:
  sqs:
    - name: events
      queue_url: "{queue_url}"
      region: us-east-1
"""

ENGINE_CONFIG = """{sources}
ha:
  namespace: {namespace}
  lease_name: {lease}
  identity: {identity}
  lease_duration: {lease_duration}s
  renew_deadline: 2s
  retry_period: 250ms
  kubeconfig: "{kubeconfig}"
action_plugins:
  - name: drain
    address: "{drain}"
    timeout: 20s
  - name: replace
    address: "{replace}"
    timeout: 20s
rules:
  - name: spot
    event_types: [prometheus.server.alert.SpotTerminationNotice, test.spot.notice]
    group_by: [instance_id]
    cooldown: 10m
    retries: 5
    action_plugins: [drain, replace]
"""

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster:
      server: "{server}"
      certificate-authority: "{ca}"
users:
  - name: engine
    user:
      token: "{token}"
contexts:
  - name: fake
    context: {{cluster: fake, user: engine}}
current-context: fake
"""


class Cluster:
    """The fake API server, the two plugins and the engine replicas."""

    def __init__(self, stack, sqs=False):
        self.stack = stack
        self.env, self.sources = None, ""
        if sqs:  # the fake AWS with a queue, for the SQS source
            aws = stack.start("fake-aws", [
                harness.binary("fake-aws"), "--listen", "127.0.0.1:0", "--region", "us-east-1",
                "--sqs_queues", "events"])
            url = f"http://127.0.0.1:{aws.wait_for_port()}"
            self.aws_url = url
            self.sources = SQS_SOURCES.format(queue_url=f"{url}/123456789012/events")
            self.env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "AKIDFAKEEXAMPLE",
                        "AWS_SECRET_ACCESS_KEY": "fakeSecretKeyForTestsOnly/EXAMPLEKEY",
                        "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_CONFIG_FILE": os.path.join(stack.workdir, "no-aws-config"),
                        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(stack.workdir, "none")}
        pki = os.path.join(stack.workdir, "pki")
        os.makedirs(pki, exist_ok=True)
        self.kube = stack.start("fake-kube-apiserver", [
            harness.binary("fake-kube-apiserver"), "--listen", "127.0.0.1:0",
            "--make_pki", pki, "--tokens", TOKEN])
        server = f"https://127.0.0.1:{self.kube.wait_for_port()}"
        self.kube_url = server
        self.kube_ssl = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.kubeconfig = os.path.join(stack.workdir, "kubeconfig")
        with open(self.kubeconfig, "w") as f:
            f.write(KUBECONFIG.format(server=server, ca=os.path.join(pki, "ca.crt"), token=TOKEN))
        self.drain = harness.start_log_plugin(stack, "drain", ["--delay", f"{SLOW_STEP}s"])
        self.replace = harness.start_log_plugin(stack, "replace")
        self.engines = {}  # identity -> harness.Engine

    def config_path(self, identity):
        path = os.path.join(self.stack.workdir, f"{identity}.yaml")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(ENGINE_CONFIG.format(
                    sources=self.sources, namespace=NAMESPACE, lease=LEASE, identity=identity,
                    lease_duration=LEASE_DURATION, kubeconfig=self.kubeconfig,
                    drain=self.drain.address, replace=self.replace.address))
            harness.check_engine_config(path)
        return path

    def start(self, identity, port=0):
        data_dir = os.path.join(self.stack.workdir, f"{identity}-data")
        os.makedirs(data_dir, exist_ok=True)
        p = self.stack.start(identity, [
            harness.binary("hollowtrees"), "--config", self.config_path(identity),
            "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir, "--log-level", "debug",
            "--shutdown-grace", "10s"], env=self.env)
        engine = harness.Engine(p, p.wait_for_port(), self.config_path(identity), data_dir)
        harness.wait_http_ok(engine.url + "/readyz", what=f"{identity}'s /readyz")
        self.engines[identity] = engine
        return engine

    def lease(self):
        """The Lease as the API server has it."""
        req = urllib.request.Request(
            f"{self.kube_url}/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{LEASE}",
            headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, context=self.kube_ssl, timeout=5) as r:
            return json.loads(r.read())

    def live(self):
        return {i: e for i, e in self.engines.items() if e.process.running()}

    def status(self, engine):
        status, body = harness.http_request("GET", engine.url + "/api/v1/status", timeout=2)
        if status != 200:
            raise NotYet(f"status {status}")
        return json.loads(body)

    def leader(self, exclude=()):
        """The identity of the one replica that says it leads, once the
        others agree."""
        def one():
            leaders, seen = [], set()
            for identity, engine in self.live().items():
                if identity in exclude:
                    continue
                try:
                    s = self.status(engine)
                except (OSError, NotYet) as e:
                    raise NotYet(f"{identity}: {e}")
                expect(s["identity"] == identity, f"{identity} says it is {s['identity']}")
                if s["leader"]:
                    leaders.append(identity)
                seen.add(s["leader_identity"])
            if len(leaders) != 1 or seen != {leaders[0]}:
                raise NotYet(f"leaders {leaders}, leader_identity seen {seen}")
            return leaders[0]
        return poll(one, WAIT, "exactly one leader, agreed by all")

    def post_alert(self, instance, engines=None, starts="2026-12-07T10:00:00Z"):
        """Sends an alert as Prometheus does: to every replica. True when
        any of them acknowledged it."""
        alert = [{"labels": {"alertname": "SpotTerminationNotice", "instance_id": instance},
                  "annotations": {}, "startsAt": starts}]
        acked = False
        for engine in (engines or self.live()).values():
            try:
                status, _ = harness.http_post_json(engine.url + "/api/v2/alerts", alert, timeout=3)
                acked = acked or status == 200
            except OSError:
                pass  # a replica that is down or stopped
        return acked


def calls(plugin, instance):
    return [r for r in plugin.records() if r.get("labels", {}).get("instance_id") == instance]


def finished(cluster, instance):
    return poll(lambda: calls(cluster.replace, instance) or None, WAIT,
                f"the last step for {instance}")


def check_no_finished_step_repeated(cluster):
    """Over every record: each flow's last step ran once; a first step ran
    again only with a higher attempt (the step in flight, redelivered)."""
    by_flow = {}
    for r in cluster.replace.records():
        by_flow.setdefault(r["flow_id"], []).append(r)
    for flow, rs in by_flow.items():
        expect(len(rs) == 1, f"flow {flow}: the last step ran {len(rs)} times: {rs}")
    firsts = {}
    for r in cluster.drain.records():
        firsts.setdefault(r["flow_id"], []).append(r["attempt"])
    for flow, attempts in firsts.items():
        expect(attempts == sorted(set(attempts)),
               f"flow {flow}: first step attempts {attempts} are not strictly increasing")


def metric(engine, name, **labels):
    return harness.metric_sum(engine.metrics(), name, **labels)


def start_three(stack, sqs=False):
    cluster = Cluster(stack, sqs)
    for i in range(3):
        cluster.start(f"engine-{i}")
    return cluster


def test_one_leader_one_flow(stack):
    cluster = start_three(stack)
    leader = cluster.leader()
    leaders = sum(metric(e, "hollowtrees_leader") for e in cluster.live().values())
    expect(leaders == 1, f"hollowtrees_leader summed over the replicas is {leaders}, want 1")

    # An alert to all three: one flow, each step once.
    expect(cluster.post_alert("i-all"), "no replica acknowledged the alert")
    finished(cluster, "i-all")
    time.sleep(1)
    expect(len(calls(cluster.drain, "i-all")) == 1, f"drain: {calls(cluster.drain, 'i-all')}")
    expect(len(calls(cluster.replace, "i-all")) == 1, f"replace: {calls(cluster.replace, 'i-all')}")

    # A CloudEvent to one follower only: its flow runs (through its inbox).
    follower = next(e for i, e in cluster.live().items() if i != leader)
    event = {"specversion": "1.0", "id": "notice-1", "source": "test", "type": "test.spot.notice",
             "datacontenttype": "application/json",
             "data": {"labels": {"instance_id": "i-follower"}}}
    sent = time.monotonic()
    status, body = harness.http_request(
        "POST", follower.url + "/api/v1/events", json.dumps(event).encode(),
        {"Content-Type": "application/cloudevents+json"})
    expect(status == 200, f"the event to a follower: {status} {body}")
    poll(lambda: calls(cluster.drain, "i-follower") or None, WAIT, "the follower's event acted on")
    print(f"  event to a follower -> first plugin call: {(time.monotonic() - sent) * 1000:.0f} ms",
          flush=True)
    finished(cluster, "i-follower")
    check_no_finished_step_repeated(cluster)


def test_sigkill_leader_in_flight(stack):
    cluster = start_three(stack)
    leader = cluster.leader()
    expect(cluster.post_alert("i-kill"), "no replica acknowledged the alert")
    poll(lambda: calls(cluster.drain, "i-kill") or None, WAIT, "the slow call in flight")

    # A stream of alerts to every live replica, across the kill.
    acked, stop = [], threading.Event()

    def stream():
        n = 0
        while not stop.is_set() and n < 200:
            instance = f"i-stream-{n}"
            if cluster.post_alert(instance):
                acked.append(instance)
            n += 1
            time.sleep(0.05)
    sender = threading.Thread(target=stream)
    sender.start()
    time.sleep(0.5)
    killed = time.monotonic()
    os.kill(cluster.engines[leader].process.pid, signal.SIGKILL)
    cluster.engines[leader].process.proc.wait(timeout=10)
    successor = cluster.leader(exclude=(leader,))
    print(f"  SIGKILL -> {successor} leads: {time.monotonic() - killed:.2f} s", flush=True)
    time.sleep(1.5)
    stop.set()
    sender.join(timeout=30)

    # The flow in flight resumed by the successor: the step again, same
    # event id, next attempt; the last step once.
    finished(cluster, "i-kill")
    drains = calls(cluster.drain, "i-kill")
    expect(len(drains) >= 2, f"the step in flight was not called again: {drains}")
    expect(len({d["event_id"] for d in drains}) == 1, f"event ids differ: {drains}")
    expect(drains[-1]["attempt"] > drains[0]["attempt"], f"attempts: {drains}")
    # Nothing acknowledged lost.
    expect(len(acked) > 10, f"only {len(acked)} alerts acknowledged")
    for instance in acked:
        poll(lambda: calls(cluster.replace, instance) or None, WAIT + 30,
             f"the flow of acknowledged alert {instance}")
    check_no_finished_step_repeated(cluster)
    print(f"  {len(acked)} alerts acknowledged across the kill, all acted on, none twice",
          flush=True)

    # The killed replica comes back with its data directory: a follower.
    back = cluster.start(leader)
    time.sleep(LEASE_DURATION)
    expect(not cluster.status(back)["leader"], f"{leader} came back as the leader")
    expect(cluster.leader() == successor, "the leader changed when a replica came back")


def test_sigstop_leader_past_its_lease(stack):
    cluster = start_three(stack)
    leader = cluster.leader()
    old = cluster.engines[leader]
    before = metric(old, "hollowtrees_plugin_calls_total", plugin="replace")
    expect(cluster.post_alert("i-stop"), "no replica acknowledged the alert")
    poll(lambda: calls(cluster.drain, "i-stop") or None, WAIT, "the slow call in flight")
    os.kill(old.process.pid, signal.SIGSTOP)
    try:
        successor = cluster.leader(exclude=(leader,))
        finished(cluster, "i-stop")  # the successor acted
        # Work the old leader would do if it still acted.
        expect(cluster.post_alert("i-after-stop", engines={
            i: e for i, e in cluster.live().items() if i != leader}), "alert not acknowledged")
        finished(cluster, "i-after-stop")
    finally:
        os.kill(old.process.pid, signal.SIGCONT)
        print("  SIGCONT sent", flush=True)
    # Its slow call's answer arrives now; it must not go on to the next step.
    time.sleep(SLOW_STEP + LEASE_DURATION)
    status = cluster.status(old)
    expect(not status["leader"], f"{leader} still says it leads: {status}")
    expect(status["leader_identity"] == successor, f"{leader} sees leader {status}")
    after = metric(old, "hollowtrees_plugin_calls_total", plugin="replace")
    expect(after == before, f"{leader} called the last step after SIGCONT ({before} -> {after})")
    expect(len(calls(cluster.replace, "i-stop")) == 1, f"replace: {calls(cluster.replace, 'i-stop')}")
    check_no_finished_step_repeated(cluster)


def test_sigterm_hands_over(stack):
    cluster = start_three(stack)
    leader = cluster.leader()
    engine = cluster.engines[leader]
    started = time.monotonic()
    code = stack.stop(engine.process)
    stopped = time.monotonic()
    expect(code == 0, f"{leader} exited {code} on SIGTERM")
    # Released on the way out (holder "" until a successor takes it), so no
    # one waits for it to expire.
    lease = cluster.lease()
    holder = lease["spec"].get("holderIdentity", "")
    expect(holder != leader, f"the Lease still names {leader} after it exited: {lease}")
    successor = cluster.leader(exclude=(leader,))
    took = time.monotonic() - stopped
    print(f"  SIGTERM: {leader} exited in {stopped - started:.2f} s; {successor} led "
          f"{took:.2f} s later (lease_duration {LEASE_DURATION} s)", flush=True)
    expect(cluster.post_alert("i-term"), "alert not acknowledged")
    finished(cluster, "i-term")
    # Back with its data directory: a follower.
    back = cluster.start(leader, port=engine.port)
    time.sleep(1)
    expect(not cluster.status(back)["leader"], f"{leader} came back as the leader")
    check_no_finished_step_repeated(cluster)


def test_only_the_leader_polls_sqs(stack):
    cluster = start_three(stack, sqs=True)
    leader = cluster.leader()

    def send_test_notification():
        # Auto Scaling's test message: taken, counted, deleted.
        body = json.dumps({"Service": "AWS Auto Scaling", "Event": "autoscaling:TEST_NOTIFICATION",
                           "AccountId": "123456789012", "AutoScalingGroupName": "g",
                           "RequestId": "r", "Time": "2026-12-07T10:00:00Z"})
        status, answer = harness.http_post_json(cluster.aws_url + "/control/sqs/send",
                                                {"queue": "events", "body": body})
        expect(status == 200, f"sending to the fake queue: {status} {answer}")

    def received(engine):
        return metric(engine, "hollowtrees_sqs_messages_received_total")

    send_test_notification()
    poll(lambda: received(cluster.engines[leader]) > 0 or None, WAIT, "the leader taking it")
    for identity, engine in cluster.live().items():
        if identity != leader:
            expect(received(engine) == 0, f"follower {identity} polled SQS")
    # The next leader takes the polling over; the old one's pollers stopped.
    expect(stack.stop(cluster.engines[leader].process) == 0, "SIGTERM exit code")
    successor = cluster.leader(exclude=(leader,))
    send_test_notification()
    # The old leader's long poll, cut when it stopped, may still be open on
    # the queue's side and take the message (SQS does the same): it then
    # comes back after its visibility timeout (30 s).
    poll(lambda: received(cluster.engines[successor]) > 0 or None, WAIT + 35,
         f"{successor} taking it once it leads")
    for identity, engine in cluster.live().items():
        if identity != successor:
            expect(received(engine) == 0, f"follower {identity} polled SQS")


if __name__ == "__main__":
    harness.main([test_one_leader_one_flow, test_sigkill_leader_in_flight,
                  test_sigstop_leader_past_its_lease, test_sigterm_hands_over,
                  test_only_the_leader_polls_sqs], "ht-ha")
