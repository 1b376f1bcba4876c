#!/usr/bin/env python3
"""What high availability costs and gives, measured side by side in one run
(docs/high-availability.md):

  1. Intake: alerts acknowledged per second and the acknowledgement's
     latency, for one engine with its journal (no `ha:`) and one replica with
     `ha:` on the fake Kubernetes API server (each new alert is written to
     its inbox ConfigMap before the answer). Sequential requests, then 8
     senders at once.
  2. Hand-over with three replicas: from SIGKILL of the leader, and from
     SIGTERM of the leader, to a successor reporting that it leads
     (/api/v1/status); repeated.
  3. An event sent to a follower only, to its first plugin call (it goes
     through the follower's inbox and the leader's read of it).

  bench/ha/ha_bench.py [--alerts N] [--handovers N]

Needs the built binaries (HT_BIN_DIR, default ./bin in the build dir).
Loopback only; every process it starts is stopped by PID.
"""
import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e", "prometheus"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e", "ha"))

import harness  # noqa: E402
import ha_e2e_test as ha  # noqa: E402

PLAIN_CONFIG = """
action_plugins:
  - name: drain
    address: "{drain}"
  - name: replace
    address: "{replace}"
rules:
  - name: spot
    event_types: [prometheus.server.alert.SpotTerminationNotice]
    group_by: [instance_id]
    action_plugins: [drain, replace]
"""


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def alert(instance):
    return [{"labels": {"alertname": "SpotTerminationNotice", "instance_id": instance},
             "annotations": {}, "startsAt": "2026-12-07T10:00:00Z"}]


def measure_intake(url, prefix, n, senders):
    """Posts n distinct alerts from `senders` threads; acks/s and latencies (ms)."""
    latencies, failures = [], []
    lock = threading.Lock()

    def send(ids):
        for i in ids:
            t0 = time.monotonic()
            status, body = harness.http_post_json(url + "/api/v2/alerts", alert(f"{prefix}-{i}"))
            took = (time.monotonic() - t0) * 1000
            with lock:
                (latencies if status == 200 else failures).append(took if status == 200 else body)
    started = time.monotonic()
    threads = [threading.Thread(target=send, args=(range(k, n, senders),)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if failures:
        raise SystemExit(f"{len(failures)} alerts not acknowledged: {failures[:3]}")
    return n / elapsed, statistics.median(latencies), pct(latencies, 0.99)


def bench_intake(stack, n):
    cluster = ha.Cluster(stack)
    plain = harness.start_engine(stack, PLAIN_CONFIG.format(drain=cluster.drain.address,
                                                            replace=cluster.replace.address),
                                 name="plain")
    replica = cluster.start("engine-0")
    cluster.leader()
    print(f"intake: {n} distinct alerts, one per request (acks/s, ack latency p50 / p99 ms)")
    print(f"  {'engine':34} {'senders':>7} {'acks/s':>8} {'p50':>7} {'p99':>7}")
    for senders in (1, 8):
        for name, engine in (("journal (no ha:)", plain),
                             ("ha: (inbox ConfigMap)", replica)):
            rate, p50, p99 = measure_intake(engine.url, f"{name[:2]}-{senders}", n, senders)
            print(f"  {name:34} {senders:7d} {rate:8.0f} {p50:7.1f} {p99:7.1f}", flush=True)


def bench_handover(stack, rounds):
    cluster = ha.start_three(stack)
    kills, terms = [], []
    for r in range(rounds):
        for how, out in (("SIGKILL", kills), ("SIGTERM", terms)):
            leader = cluster.leader()
            engine = cluster.engines[leader]
            t0 = time.monotonic()
            if how == "SIGKILL":
                os.kill(engine.process.pid, signal.SIGKILL)
                engine.process.proc.wait(timeout=10)
                stack.stop(engine.process)
            else:
                stack.stop(engine.process)
            cluster.leader(exclude=(leader,))
            out.append(time.monotonic() - t0)
            cluster.start(leader, port=engine.port)
    print(f"hand-over with three replicas (lease_duration {ha.LEASE_DURATION} s, renew_deadline "
          f"2 s, retry_period 250 ms), {rounds} rounds: seconds from the signal to a successor "
          f"leading")
    for name, values in (("SIGKILL (the Lease expires)", kills),
                         ("SIGTERM (the Lease is released)", terms)):
        print(f"  {name:34} median {statistics.median(values):5.2f}  worst {max(values):5.2f}",
              flush=True)

    # An event to a follower only, to its first plugin call.
    leader = cluster.leader()
    follower = next(e for i, e in cluster.live().items() if i != leader)
    took = []
    for i in range(20):
        instance = f"i-follower-{i}"
        event = {"specversion": "1.0", "id": f"n-{i}", "source": "bench", "type": "test.spot.notice",
                 "datacontenttype": "application/json", "data": {"labels": {"instance_id": instance}}}
        t0 = time.monotonic()
        status, body = harness.http_request(
            "POST", follower.url + "/api/v1/events", json.dumps(event).encode(),
            {"Content-Type": "application/cloudevents+json"})
        if status != 200:
            raise SystemExit(f"event to a follower: {status} {body}")
        harness.poll(lambda: ha.calls(cluster.drain, instance) or None, 30, "the first call")
        took.append((time.monotonic() - t0) * 1000)
    print(f"event to a follower -> first plugin call (20 events, ms): median "
          f"{statistics.median(took):.0f}  p90 {pct(took, 0.9):.0f}  worst {max(took):.0f} "
          f"(the leader reads the inboxes every 250 ms)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--handovers", type=int, default=5)
    args = parser.parse_args()
    for fn, arg in ((bench_intake, args.alerts), (bench_handover, args.handovers)):
        workdir = tempfile.mkdtemp(prefix="ht-ha-bench-")
        with harness.Stack(workdir) as stack:
            try:
                fn(stack, arg)
            except BaseException:
                print(stack.logs(), file=sys.stderr)
                raise


if __name__ == "__main__":
    main()
