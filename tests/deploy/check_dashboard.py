#!/usr/bin/env python3
"""Checks the Grafana dashboard deploy/grafana/hollowtrees.json against
itself, promtool and the metrics the binaries really expose.

Usage: check_dashboard.py SOURCE_DIR BIN_DIR
Runs every check, prints one line per problem and exits 1 when there is any;
prints what ran and exits 0 otherwise. The checks:

  structure  uid, title, schemaVersion, no fixed id, no __inputs, small
             enough for a ConfigMap applied with kubectl; a `datasource` variable
             of type datasource (prometheus); every query variable on
             ${datasource}; unique panel ids; panels inside the 24-column grid
             and not overlapping; every panel (rows aside) on the
             ${datasource} variable, with a description, a unit, thresholds
             and at least one target with an expression; every $variable used
             defined (or one of Grafana's $__ globals).
  promql     every target's expression, and every variable's label_values()
             selector, with the variables replaced by concrete values
             ($__rate_interval 1m, $__range 6h, All = `.*`), written as
             recording rules and checked by `promtool check rules`.
  metrics    starts, on loopback with port 0 and bounded waits, the engine,
             the log plugin and the drain plugin (--metrics-listen), the
             exporter against fake-imds (pushing to the engine), and the
             webhook (TLS from openssl, its API from fake-kube-apiserver);
             posts one spot notice to fake-imds (then Prometheus' alert for
             it) and one request to each webhook endpoint so that labelled
             series appear; scrapes every
             /metrics. Every metric name an expression uses must be a family
             some process exposes (a TYPE line; histogram `x` covers
             x_bucket, x_sum, x_count); every label an expression matches,
             groups by or shows in a legend must be a scrape target label
             (TARGET_LABELS) or a label of one of its metrics' samples.
             Stops every process it started, by PID, and removes its files.
"""
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import yaml

SRC = BIN = None
problems = []
ran = []

DASHBOARD = "deploy/grafana/hollowtrees.json"
DS_VARIABLE = "${datasource}"
# Labels Prometheus or the scrape configuration add to every series: the
# dashboard's variables, deploy/prometheus's relabelling, multi-cluster
# external labels.
TARGET_LABELS = {"cluster", "namespace", "job", "instance", "pod", "node"}
# Grafana's global variables and the values they stand for in promtool.
GLOBALS = {"__rate_interval": "1m", "__interval": "1m", "__range": "6h", "__range_s": "21600",
           "__range_ms": "21600000", "__interval_ms": "60000"}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                   "offset", "and", "or", "unless", "inf", "nan", "atan2"}
VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LABEL_VALUES_RE = re.compile(r"^\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*$", re.S)
DEADLINE = 30.0  # seconds, for every wait on a process
MAX_BYTES = 256 * 1024  # Kubernetes' bound on an object's annotations


def problem(msg):
    problems.append(msg)


# ----------------------------------------------------------------- structure


def all_panels(dashboard):
    """Top-level panels and the panels of collapsed rows."""
    out = []
    for p in dashboard.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def variables(dashboard):
    return {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}


def used_variables(text):
    return {a or b or c for a, b, c in VAR_RE.findall(text)}


def queries(dashboard):
    """(where, expr) for every target of every panel and every variable's
    label_values() selector."""
    out = []
    for p in all_panels(dashboard):
        for t in p.get("targets", []):
            if t.get("expr"):
                out.append(("panel %s %r target %s" % (p.get("id"), p.get("title"), t.get("refId")),
                            t["expr"]))
    for name, v in variables(dashboard).items():
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = LABEL_VALUES_RE.match(q)
            if not m:
                problem("variable %s: query %r is not label_values(SELECTOR, LABEL)" % (name, q))
                continue
            out.append(("variable %s" % name, m.group(1)))
    return out


def check_structure(d, size):
    if size >= MAX_BYTES:
        problem("dashboard: %d bytes; kubectl apply of a ConfigMap holding it needs less than %d "
                "(the last-applied annotation)" % (size, MAX_BYTES))
    for key in ("uid", "title"):
        if not isinstance(d.get(key), str) or not d[key]:
            problem("dashboard: no %s" % key)
    if len(d.get("uid", "")) > 40:
        problem("dashboard: uid %r is longer than Grafana's 40 characters" % d["uid"])
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
        problem("dashboard: schemaVersion %r, want an integer >= 36 (Grafana 9)" % d.get("schemaVersion"))
    if d.get("id") is not None:
        problem("dashboard: id %r: leave it null so that imports and provisioning assign one" % d["id"])
    if "__inputs" in d:
        problem("dashboard: __inputs (an export for sharing) cannot be provisioned from a ConfigMap; "
                "use the ${datasource} variable")
    vs = variables(d)
    ds = vs.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problem("dashboard: no variable `datasource` of type datasource, query prometheus")
    for name, v in vs.items():
        if v.get("type") == "query" and (v.get("datasource") or {}).get("uid") != DS_VARIABLE:
            problem("variable %s: datasource %r is not %s" % (name, v.get("datasource"), DS_VARIABLE))
        if v.get("type") == "query" and v.get("includeAll") and v.get("allValue") != ".*":
            problem("variable %s: allValue %r; `.*` also matches series without the label" %
                    (name, v.get("allValue")))
    seen_ids = {}
    boxes = []
    count = 0
    for p in all_panels(d):
        pid, title = p.get("id"), p.get("title")
        where = "panel %s %r" % (pid, title)
        if not isinstance(pid, int):
            problem("%s: id is not an integer" % where)
        elif pid in seen_ids:
            problem("%s: id also used by %r" % (where, seen_ids[pid]))
        seen_ids[pid] = title
        if not title:
            problem("%s: no title" % where)
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")) or g["x"] + g["w"] > 24:
            problem("%s: gridPos %s is not inside the 24-column grid" % (where, g))
        else:
            for other, og in boxes:
                if (g["x"] < og["x"] + og["w"] and og["x"] < g["x"] + g["w"] and
                        g["y"] < og["y"] + og["h"] and og["y"] < g["y"] + g["h"]):
                    problem("%s overlaps %s" % (where, other))
            boxes.append((where, g))
        if p.get("type") == "row":
            continue
        count += 1
        if (p.get("datasource") or {}).get("uid") != DS_VARIABLE:
            problem("%s: datasource %r is not the %s variable" % (where, p.get("datasource"), DS_VARIABLE))
        if not (p.get("description") or "").strip():
            problem("%s: no description" % where)
        defaults = (p.get("fieldConfig") or {}).get("defaults") or {}
        if not defaults.get("unit"):
            problem("%s: no unit (fieldConfig.defaults.unit)" % where)
        if not (defaults.get("thresholds") or {}).get("steps"):
            problem("%s: no thresholds" % where)
        targets = p.get("targets") or []
        if not targets:
            problem("%s: no target" % where)
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            problem("%s: refIds %s are not unique" % (where, refs))
        for t in targets:
            if not (t.get("expr") or "").strip():
                problem("%s target %s: no expression" % (where, t.get("refId")))
            tds = t.get("datasource")
            if tds is not None and (tds or {}).get("uid") != DS_VARIABLE:
                problem("%s target %s: datasource %r is not %s" % (where, t.get("refId"), tds, DS_VARIABLE))
    for where, expr in queries(d):
        for name in used_variables(expr):
            if name not in vs and name not in GLOBALS:
                problem("%s: $%s is neither a dashboard variable nor a Grafana global" % (where, name))
    ran.append("structure: %d panels, %d rows, %d variables" %
               (count, len(seen_ids) - count, len(vs)))


# -------------------------------------------------------------------- promql


def concrete(expr, vs):
    def value(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in GLOBALS:
            return GLOBALS[name]
        v = vs.get(name) or {}
        return v.get("allValue") or ".*"
    return VAR_RE.sub(value, expr)


def check_promql(d, tmp):
    vs = variables(d)
    rules = []
    names = {}
    for i, (where, expr) in enumerate(queries(d)):
        record = "dashboard_query_%d" % i
        names[record] = where
        rules.append({"record": record, "expr": concrete(expr, vs)})
    path = os.path.join(tmp, "dashboard-rules.yml")
    with open(path, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, width=1000)
    promtool = shutil.which("promtool")
    if not promtool:
        problem("promtool is not installed (Debian package prometheus)")
        return
    out = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        text = out.stdout + out.stderr
        # Name the panel of each rule promtool complains about.
        for record, where in names.items():
            text = re.sub(r"\b%s\b" % record, "%s (%s)" % (record, where), text)
        problem("promtool check rules on the dashboard's expressions (exit %d):\n%s" %
                (out.returncode, text))
    else:
        ran.append("promtool check rules: %d expressions" % len(rules))


# ------------------------------------------------------- names in expressions


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def selectors(expr):
    """(metric or None, [label names matched], [__name__ values]) for every
    vector selector of `expr`."""
    out = []
    for m in re.finditer(r"([a-zA-Z_:][\w:]*)?\s*\{([^{}]*)\}", expr):
        labels, names = [], []
        for lm in re.finditer(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', m.group(2)):
            if lm.group(1) == "__name__":
                if lm.group(2) in ("=", "=~") and re.fullmatch(r"[\w:|]+", lm.group(3)):
                    names.extend(lm.group(3).split("|"))
                else:
                    problem("cannot read the metric names of %r" % lm.group(0))
            else:
                labels.append(lm.group(1))
        out.append((m.group(1), labels, names))
    return out


def metric_names(expr):
    """Every metric name `expr` selects (the identifiers that are neither
    functions, keywords, label names nor durations)."""
    names = set()
    for metric, _, by_name in selectors(expr):
        names.update(by_name)
    e = strip_strings(expr)
    e = re.sub(r"\{[^{}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def grouping_labels(expr):
    out = set()
    for m in re.finditer(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)",
                         strip_strings(expr)):
        out.update(l.strip() for l in m.group(2).split(",") if l.strip())
    return out


# ------------------------------------------------------------------- metrics


class Scrape:
    """The families (name -> type) and sample labels of one /metrics."""

    def __init__(self, text):
        self.types = {}
        self.labels = {}  # sample name -> set of label names
        for line in text.splitlines():
            m = re.match(r"# TYPE ([a-zA-Z_:][\w:]*) (\w+)", line)
            if m:
                self.types[m.group(1)] = m.group(2)
                continue
            if not line or line.startswith("#"):
                continue
            m = re.match(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s", line)
            if m:
                self.labels.setdefault(m.group(1), set()).update(
                    re.findall(r'([a-zA-Z_]\w*)="', m.group(2) or ""))

    def exposed(self):
        """Sample names each family can have -> its family."""
        out = {}
        for name, kind in self.types.items():
            out[name] = name
            if kind == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    out[name + suffix] = name
            elif kind == "summary":
                for suffix in ("_sum", "_count"):
                    out[name + suffix] = name
        return out


def load_harness():
    sys.path.insert(0, os.path.join(SRC, "tests/e2e/prometheus"))
    import harness  # noqa: E402  (tests/e2e/prometheus/harness.py: processes, waits, HTTP)
    harness.BIN_DIR = BIN
    return harness


ENGINE_CONFIG = """
listen: "127.0.0.1:0"
action_plugins:
  - name: "ht-log-action-plugin"
    address: "127.0.0.1:%(log_port)d"
    timeout: 10s
rules:
  - name: "drain_k8s_spot_instance"
    event_type: "prometheus.server.alert.SpotTerminationNotice"
    match:
      - cluster_name: "dashboard-check"
    group_by: [instance_id]
    cooldown: 10m
    action_plugins:
      - "ht-log-action-plugin"
"""


def start_all(h, stack, tmp):
    """Starts every process; returns {process name: metrics URL} and what to
    drive them with."""
    urls = {}
    log = stack.start("ht-log-action-plugin", [
        h.binary("ht-log-action-plugin"), "--listen", "127.0.0.1:0",
        "--metrics-listen", "127.0.0.1:0", "--record-file", os.path.join(tmp, "calls.jsonl")])
    log_port = log.wait_for_port(timeout=DEADLINE)
    urls["ht-log-action-plugin"] = "http://127.0.0.1:%d/metrics" % log.wait_for_port(
        r"metrics on 127\.0\.0\.1:(\d+)", timeout=DEADLINE)

    kubeconfigs = os.path.join(tmp, "kubeconfigs")  # empty: the drain plugin reads it per event
    os.makedirs(kubeconfigs)
    k8s = stack.start("ht-k8s-action-plugin", [
        h.binary("ht-k8s-action-plugin"), "--listen", "127.0.0.1:0",
        "--metrics-listen", "127.0.0.1:0", "--kubeconfig-dir", kubeconfigs])
    urls["ht-k8s-action-plugin"] = "http://127.0.0.1:%d/metrics" % k8s.wait_for_port(
        r"metrics on 127\.0\.0\.1:(\d+)", timeout=DEADLINE)

    engine = h.start_engine(stack, ENGINE_CONFIG % {"log_port": log_port})
    urls["hollowtrees"] = engine.url + "/metrics"

    imds = stack.start("fake-imds", [h.binary("fake-imds"), "--listen", "127.0.0.1:0"])
    imds_url = "http://127.0.0.1:%d" % imds.wait_for_port(timeout=DEADLINE)
    exporter = stack.start("spot-termination-exporter", [
        h.binary("spot-termination-exporter"), "--bind-addr", "127.0.0.1:0",
        "--metadata-endpoint", imds_url + "/latest/meta-data/",
        "--notify-url", engine.url + "/api/v1/events", "--node-name", "node-1",
        "--notify-label", "cluster_name=dashboard-check"])
    urls["spot-termination-exporter"] = "http://127.0.0.1:%d/metrics" % exporter.wait_for_port(
        timeout=DEADLINE)

    # The webhook serves TLS only, and reads its ConfigMap from an API server.
    kube = stack.start("fake-kube-apiserver", [h.binary("fake-kube-apiserver"),
                                               "--listen", "127.0.0.1:0"])
    kube_port = kube.wait_for_port(timeout=DEADLINE)
    kubeconfig = os.path.join(tmp, "webhook-kubeconfig")
    with open(kubeconfig, "w") as f:
        yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": "http://127.0.0.1:%d" % kube_port}}],
            "users": [{"name": "fake", "user": {"token": "unused"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}, f)
    cert, key = os.path.join(tmp, "webhook.crt"), os.path.join(tmp, "webhook.key")
    out = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                          "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
    h.expect(out.returncode == 0, "openssl req failed: %s" % out.stderr)
    webhook = stack.start("spot-config-webhook", [
        h.binary("spot-config-webhook"), "--listen", "127.0.0.1:0", "--tls-cert-file", cert,
        "--tls-private-key-file", key, "--kubeconfig", kubeconfig])
    webhook_url = "https://127.0.0.1:%d" % webhook.wait_for_port(r"listening on port (\d+)",
                                                                 timeout=DEADLINE)
    urls["spot-config-webhook"] = webhook_url + "/metrics"
    return urls, engine, imds_url, webhook_url, cert


def fetch(url, cafile=None, data=None, timeout=5.0):
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def drive(h, engine, imds_url, webhook_url, cert, urls):
    """The smallest events that make the labelled series appear: one spot
    notice (exporter poll and push, engine intake, rule, flow, plugin call),
    Prometheus' alert for it (absorbed), one request to each webhook
    endpoint."""
    status, body = fetch(imds_url + "/control/spot-action", data=b'{"action":"terminate"}')
    h.expect(status == 200, "fake-imds /control/spot-action: %d %s" % (status, body))

    def flow_done():
        text = fetch(urls["hollowtrees"])[1]
        if not re.search(r'^hollowtrees_flows_completed_total\{[^}]*outcome="succeeded"[^}]*\} [1-9]',
                         text, re.M):
            raise h.NotYet("no succeeded flow yet")
        text = fetch(urls["spot-termination-exporter"])[1]
        if not re.search(r'^spot_termination_exporter_pushes_total\{[^}]*result="delivered"[^}]*\} [1-9]',
                         text, re.M):
            raise h.NotYet("the exporter has not delivered its push yet")
        return True
    h.poll(flow_done, DEADLINE, "the notice to go from fake-imds to a succeeded flow")
    # Prometheus' alert for the same notice, absorbed by the cooling group.
    alert = [{"labels": {"alertname": "SpotTerminationNotice", "cluster_name": "dashboard-check",
                         "instance_id": "i-0123456789abcdef0"}}]
    status, body = fetch(engine.url + "/api/v2/alerts", data=json.dumps(alert).encode())
    h.expect(status == 200, "engine POST /api/v2/alerts: %d %s" % (status, body))

    def absorbed():
        text = fetch(urls["hollowtrees"])[1]
        return re.search(r"^hollowtrees_flows_absorbed_total\{[^}]*\} [1-9]", text, re.M)
    h.poll(absorbed, DEADLINE, "the Prometheus alert to be absorbed")

    def webhook_ready():
        return fetch(webhook_url + "/readyz", cafile=cert, timeout=2.0)[0] == 200
    h.poll(webhook_ready, DEADLINE, "the webhook's /readyz")
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": "u1", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                          "operation": "CREATE", "namespace": "shop",
                          "object": {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "metadata": {"name": "web", "namespace": "shop",
                                                  "labels": {"release": "shop"}},
                                     "spec": {"template": {"metadata": {}, "spec": {}}}}}}
    for path, body in (("/mutate", review),
                       ("/filter", {"pod": {"metadata": {"name": "p", "namespace": "shop"}},
                                    "nodenames": ["n1"]})):
        status, text = fetch(webhook_url + path, cafile=cert, data=json.dumps(body).encode())
        h.expect(status == 200, "webhook POST %s: %d %s" % (path, status, text[:300]))


def check_metrics(d, tmp):
    h = load_harness()
    stack = h.Stack(tmp)
    scrapes = {}
    with stack:  # stops every process it started, newest first, whatever happens
        try:
            urls, engine, imds_url, webhook_url, cert = start_all(h, stack, tmp)
            drive(h, engine, imds_url, webhook_url, cert, urls)
            for name, url in urls.items():
                status, text = fetch(url, cafile=cert)
                h.expect(status == 200, "GET %s: %d" % (url, status))
                scrapes[name] = Scrape(text)
        except (h.TestFailure, OSError) as e:
            problem("starting and driving the processes: %s\n%s" % (e, stack.logs()))
            return
    exposed = {}  # sample name -> (family, process)
    labels = {}   # family -> label names seen on its samples
    for proc, s in scrapes.items():
        for sample, family in s.exposed().items():
            exposed.setdefault(sample, (family, proc))
        for sample, names in s.labels.items():
            family = s.exposed().get(sample, sample)
            labels.setdefault(family, set()).update(names)

    used = set()
    unchecked = set()
    for where, expr in queries(d):
        names = metric_names(expr)
        used |= names
        for name in sorted(names - set(exposed)):
            problem("%s: metric %s is exposed by none of %s" % (where, name, sorted(scrapes)))
        families = {exposed[n][0] for n in names if n in exposed}
        known = set(TARGET_LABELS)
        for f in families:
            known |= labels.get(f, set())
            if f not in labels:
                unchecked.add(f)
        if any(n.endswith("_bucket") for n in names):
            known.add("le")
        if any(f not in labels for f in families):
            continue  # a family without samples: its labels cannot be known
        for metric, matched, _ in selectors(expr):
            own = set(TARGET_LABELS) | ({"le"} if (metric or "").endswith("_bucket") else set())
            own |= labels.get(exposed.get(metric, (metric,))[0], set()) if metric else known
            for label in matched:
                if label not in own:
                    problem("%s: %s has no label %s (its samples have %s)" %
                            (where, metric, label, sorted(own - TARGET_LABELS)))
        for label in grouping_labels(expr):
            if label not in known:
                problem("%s: groups by %s, a label none of %s has" % (where, label, sorted(families)))
    for p in all_panels(d):
        for t in p.get("targets", []):
            families = {exposed[n][0] for n in metric_names(t.get("expr", "")) if n in exposed}
            if any(f not in labels for f in families):
                continue
            known = set(TARGET_LABELS).union(*(labels[f] for f in families)) if families else set(TARGET_LABELS)
            for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")):
                if label not in known:
                    problem("panel %s %r target %s: legend shows {{%s}}, a label none of %s has" %
                            (p.get("id"), p.get("title"), t.get("refId"), label, sorted(families)))
    ran.append("metrics: %d names checked against %s; labels checked except on %s" %
               (len(used), ", ".join("%s (%d families)" % (n, len(s.types)) for n, s in scrapes.items()),
                sorted(unchecked) or "none"))


def main():
    global SRC, BIN
    SRC, BIN = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    path = os.path.join(SRC, DASHBOARD)
    try:
        with open(path) as f:
            text = f.read()
        d = json.loads(text)
    except (OSError, ValueError) as e:
        print("PROBLEM: %s: %s" % (path, e))
        return 1
    tmp = tempfile.mkdtemp(prefix="ht-dashboard-check-")
    try:
        check_structure(d, len(text.encode()))
        check_promql(d, tmp)
        check_metrics(d, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for line in ran:
        print("ok: " + line)
    for p in problems:
        print("PROBLEM: " + p)
    if problems:
        print("%d problem(s)" % len(problems))
        return 1
    print("all dashboard checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
