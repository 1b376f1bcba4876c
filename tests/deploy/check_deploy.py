#!/usr/bin/env python3
"""Checks everything under deploy/ (except deploy/webhook/, checked by
tests/webhook/deploy_check.py) against itself, the binaries and the code.

Usage: check_deploy.py SOURCE_DIR BIN_DIR
Runs every check, prints one line per problem and exits 1 when there is any;
prints what ran and exits 0 otherwise. The checks (docs/operator-guide.md,
"What is checked"):

  kubernetes  structure of deploy/kubernetes/*.yaml: apiVersion/kind/metadata,
              namespaces, selectors matching pod labels, Services' target
              ports and probes' ports naming container ports, gRPC probes on
              the plugins, ServiceAccounts and ConfigMaps that exist, RBAC
              bindings, every flag in `args` known to the binary (--helpfull),
              the engine's rules passing `hollowtrees check-config`, plugin
              addresses and --notify-url naming real Services and ports, one
              cluster_name everywhere, the drain plugin's ClusterRole equal to
              the resources its code calls.
  kubectl     the real `kubectl apply --dry-run=client --validate=false` on
              every manifest, against a local discovery-only API server
              started here (kubectl needs discovery even in client mode).
  iam         deploy/aws/iam-policy.json parses (python3 -m json.tool) and its
              actions are exactly the AWS actions lib/aws calls for the plugin.
  prometheus  promtool check rules, promtool test rules (the alert carries
              cluster_name, instance_id, node), promtool check config on a
              prometheus.yml made of the snippets.
  alertmanager amtool check-config on an alertmanager.yml made of the snippet.
  systemd     systemd-analyze verify on each unit (binaries pointed at
              BIN_DIR), flags in ExecStart known to the binary,
              `hollowtrees check-config` on deploy/systemd/rules.yaml.
"""
import glob
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import yaml

SRC = BIN = None
problems = []
ran = []

NAMESPACED = {"Deployment", "StatefulSet", "DaemonSet", "Service", "ConfigMap", "ServiceAccount",
              "Role", "RoleBinding", "PodDisruptionBudget"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}
BINARIES = {"hollowtrees", "ht-k8s-action-plugin", "ht-aws-asg-action-plugin",
            "spot-termination-exporter"}
# What the issue grants the drain plugin, plus daemonsets get (the --force rule
# for DaemonSet pods whose DaemonSet is gone, plugins/k8s/kube_http_api.cc).
DRAIN_RBAC = {("", "nodes"): {"get", "list", "patch"},
              ("", "pods"): {"get", "list", "delete"},
              ("", "pods/eviction"): {"create"},
              ("", "events"): {"create"},
              ("apps", "daemonsets"): {"get"}}


def problem(msg):
    problems.append(msg)


_flags_cache = {}


def known_flags(binary):
    if binary not in _flags_cache:
        path = os.path.join(BIN, binary)
        try:
            out = subprocess.run([path, "--helpfull"], capture_output=True, text=True, timeout=20)
            text = out.stdout + out.stderr
        except OSError as e:
            problem("cannot run %s --helpfull: %s" % (path, e))
            text = ""
        flags = set(re.findall(r"--([a-z0-9_]+)", text))
        if "log_level" not in flags:
            problem("cannot read the flags of %s" % path)
        _flags_cache[binary] = flags
    return _flags_cache[binary]


def check_flags(where, binary, args):
    flags = known_flags(binary)
    for arg in args:
        if not arg.startswith("--"):
            continue
        name = arg[2:].split("=", 1)[0].replace("-", "_")
        if name not in flags:
            problem("%s: %s has no flag --%s" % (where, binary, name))


def flag_value(args, name):
    for arg in args:
        if arg.startswith("--" + name + "=") or arg.startswith("--" + name.replace("-", "_") + "="):
            return arg.split("=", 1)[1]
    return None


# ---------------------------------------------------------------- kubernetes


def load_manifests():
    docs = []
    for path in sorted(glob.glob(os.path.join(SRC, "deploy/kubernetes/*.yaml"))):
        with open(path) as f:
            try:
                for doc in yaml.safe_load_all(f):
                    if doc is not None:
                        docs.append((os.path.basename(path), doc))
            except yaml.YAMLError as e:
                problem("%s: not YAML: %s" % (path, e))
    if not docs:
        problem("no manifests in deploy/kubernetes")
    return docs


def where(name, doc):
    return "%s: %s %s" % (name, doc.get("kind"), (doc.get("metadata") or {}).get("name"))


def container_ports(pod_spec):
    ports = {}
    for c in pod_spec.get("containers", []):
        for p in c.get("ports", []):
            ports[p["containerPort"]] = p
            if "name" in p:
                ports[p["name"]] = p
    return ports


def check_kubernetes(docs):
    ran.append("kubernetes: structure, references, flags, RBAC of %d objects" % len(docs))
    objects = {}
    for name, doc in docs:
        for field in ("apiVersion", "kind", "metadata"):
            if field not in doc:
                problem("%s: no %s" % (name, field))
        md = doc.get("metadata") or {}
        if not md.get("name"):
            problem("%s: no metadata.name" % where(name, doc))
        if doc.get("kind") in NAMESPACED and not md.get("namespace"):
            problem("%s: namespaced kind without metadata.namespace" % where(name, doc))
        key = (doc.get("kind"), md.get("namespace"), md.get("name"))
        if key in objects:
            problem("%s: defined twice" % where(name, doc))
        objects[key] = (name, doc)

    def exists(kind, ns, obj_name):
        return (kind, ns, obj_name) in objects

    namespaces = {k[2] for k in objects if k[0] == "Namespace"}
    workloads = []
    for (kind, ns, obj_name), (name, doc) in objects.items():
        if ns is not None and ns not in namespaces:
            problem("%s: namespace %s is not defined in deploy/kubernetes" % (where(name, doc), ns))
        if kind not in WORKLOADS:
            continue
        spec = doc["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        if not spec["selector"]["matchLabels"] or spec["selector"]["matchLabels"].items() - labels.items():
            problem("%s: selector does not match the pod template's labels" % where(name, doc))
        sa = pod.get("serviceAccountName")
        if sa and not exists("ServiceAccount", ns, sa):
            problem("%s: ServiceAccount %s is not defined" % (where(name, doc), sa))
        for v in pod.get("volumes", []):
            if "configMap" in v and not exists("ConfigMap", ns, v["configMap"]["name"]):
                problem("%s: ConfigMap %s is not defined" % (where(name, doc), v["configMap"]["name"]))
        claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
        volumes = {v["name"] for v in pod.get("volumes", [])} | claims
        ports = container_ports(pod)
        for c in pod.get("containers", []):
            cw = "%s container %s" % (where(name, doc), c["name"])
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    problem("%s: mounts undefined volume %s" % (cw, m["name"]))
            binary = (c.get("command") or [None])[0]
            if binary not in BINARIES:
                problem("%s: command %r is not one of %s" % (cw, binary, sorted(BINARIES)))
                continue
            check_flags(cw, binary, c.get("args", []))
            for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c.get(probe_name)
                if not probe:
                    if probe_name != "startupProbe":
                        problem("%s: no %s" % (cw, probe_name))
                    continue
                if "httpGet" in probe:
                    port = probe["httpGet"]["port"]
                    if port not in ports:
                        problem("%s: %s port %s is not a container port" % (cw, probe_name, port))
                elif "grpc" in probe:
                    port = probe["grpc"]["port"]
                    if not isinstance(port, int) or port not in ports:
                        problem("%s: %s gRPC port %s is not a numbered container port" %
                                (cw, probe_name, port))
                else:
                    problem("%s: %s is neither httpGet nor grpc" % (cw, probe_name))
            # Plugins serve grpc.health.v1: their probes must use it; the
            # engine serves /healthz and /readyz.
            if binary.startswith("ht-") and "grpc" not in (c.get("readinessProbe") or {}):
                problem("%s: a plugin's readiness probe should be a gRPC health probe" % cw)
            if binary == "hollowtrees":
                paths = {p: (c.get(p) or {}).get("httpGet", {}).get("path")
                         for p in ("livenessProbe", "readinessProbe")}
                if paths != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
                    problem("%s: probes should be /healthz (liveness) and /readyz (readiness), are %s" %
                            (cw, paths))
            listen = flag_value(c.get("args", []), "listen") or flag_value(c.get("args", []), "bind-addr")
            if listen:
                port = int(listen.rsplit(":", 1)[1])
                if port not in ports:
                    problem("%s: listens on %d, which is not a container port" % (cw, port))
        workloads.append((kind, ns, obj_name, name, doc, labels, ports))

    # Services select a workload and name its ports.
    services = {}
    for (kind, ns, obj_name), (name, doc) in objects.items():
        if kind != "Service":
            continue
        sel = doc["spec"].get("selector", {})
        matched = [w for w in workloads if w[1] == ns and sel and not (sel.items() - w[5].items())]
        if not matched:
            problem("%s: selector %s matches no pod template" % (where(name, doc), sel))
            continue
        for p in doc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if target not in matched[0][6]:
                problem("%s: targetPort %s is not a container port of %s" %
                        (where(name, doc), target, matched[0][2]))
            else:
                services["%s.%s.svc:%d" % (obj_name, ns, p["port"])] = matched[0]

    # RBAC references.
    for (kind, ns, obj_name), (name, doc) in objects.items():
        if kind not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        ref = doc["roleRef"]
        if not exists(ref["kind"], None if ref["kind"] == "ClusterRole" else ns, ref["name"]):
            problem("%s: %s %s is not defined" % (where(name, doc), ref["kind"], ref["name"]))
        for s in doc["subjects"]:
            if s["kind"] == "ServiceAccount" and not exists("ServiceAccount", s["namespace"], s["name"]):
                problem("%s: ServiceAccount %s/%s is not defined" % (where(name, doc), s["namespace"], s["name"]))

    check_drain_rbac(objects)
    check_engine_wiring(objects, workloads, services)


def check_drain_rbac(objects):
    role = objects.get(("ClusterRole", None, "ht-k8s-action-plugin"))
    if not role:
        problem("no ClusterRole ht-k8s-action-plugin")
        return
    granted = {}
    for rule in role[1]["rules"]:
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                if "*" in (group, res) or "*" in rule["verbs"]:
                    problem("ClusterRole ht-k8s-action-plugin: wildcard in %s" % rule)
                granted.setdefault((group, res), set()).update(rule["verbs"])
    if granted != DRAIN_RBAC:
        problem("ClusterRole ht-k8s-action-plugin grants %s, expected exactly %s" %
                (sorted((k, sorted(v)) for k, v in granted.items()),
                 sorted((k, sorted(v)) for k, v in DRAIN_RBAC.items())))
    # And the code calls exactly those resources.
    code = open(os.path.join(SRC, "plugins/k8s/kube_http_api.cc")).read()
    used = set()
    for group, res, sub in re.findall(
            r'ResourcePath\("([a-z.]*)", "v1", "([a-z]+)"(?:, [^,()]+, [^,()]+, "([a-z]+)")?', code):
        used.add((group, res + ("/" + sub if sub else "")))
    for res in re.findall(r'List\("/api/v1/([a-z]+)"', code):
        used.add(("", res))
    if used != set(DRAIN_RBAC):
        problem("plugins/k8s/kube_http_api.cc uses %s; the ClusterRole covers %s" %
                (sorted(used), sorted(DRAIN_RBAC)))


def check_engine_wiring(objects, workloads, services):
    cm = objects.get(("ConfigMap", "hollowtrees", "hollowtrees-rules"))
    if not cm:
        problem("no ConfigMap hollowtrees/hollowtrees-rules")
        return
    rules_text = cm[1]["data"]["rules.yaml"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rules.yaml")
        with open(path, "w") as f:
            f.write(rules_text)
        check_config(path, "engine.yaml ConfigMap hollowtrees-rules")
    rules = yaml.safe_load(rules_text)
    for plugin in rules["action_plugins"]:
        target = services.get(plugin["address"])
        if not target:
            problem("ConfigMap hollowtrees-rules: plugin %s address %s is no Service port in deploy/kubernetes" %
                    (plugin["name"], plugin["address"]))
        elif target[4]["spec"]["template"]["spec"]["containers"][0]["command"][0] != plugin["name"]:
            problem("ConfigMap hollowtrees-rules: address %s reaches %s, not %s" %
                    (plugin["address"], target[2], plugin["name"]))
    clusters = {m["cluster_name"] for r in rules["rules"] for m in r.get("match", []) if "cluster_name" in m}
    engine_svc = [k for k, w in services.items() if w[2] == "hollowtrees"]
    for w in workloads:
        for c in w[4]["spec"]["template"]["spec"]["containers"]:
            if c["command"][0] != "spot-termination-exporter":
                continue
            args = c.get("args", [])
            url = flag_value(args, "notify-url") or ""
            m = re.match(r"http://([^/]+)/api/v1/events$", url)
            if not m or m.group(1) not in engine_svc:
                problem("exporter --notify-url %r is not the engine Service's /api/v1/events (%s)" %
                        (url, engine_svc))
            label = flag_value(args, "notify-label") or ""
            if "cluster_name=" not in label or label.split("cluster_name=", 1)[1].split(",")[0] not in clusters:
                problem("exporter --notify-label %r does not set a cluster_name the rules match (%s)" %
                        (label, sorted(clusters)))
            if not any(e.get("name") == "NODE_NAME" and
                       e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName"
                       for e in c.get("env", [])):
                problem("exporter: NODE_NAME is not taken from spec.nodeName")
    prom = yaml.safe_load(open(os.path.join(SRC, "deploy/prometheus/rules.yml")))
    for g in prom["groups"]:
        for r in g["rules"]:
            if r.get("alert", "").startswith("Spot") and "cluster_name" in r.get("labels", {}):
                if r["labels"]["cluster_name"] not in clusters:
                    problem("alert %s sets cluster_name=%s; the engine's rules match %s" %
                            (r["alert"], r["labels"]["cluster_name"], sorted(clusters)))


def check_config(path, what):
    out = subprocess.run([os.path.join(BIN, "hollowtrees"), "check-config", path],
                         capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        problem("%s: hollowtrees check-config failed: %s" % (what, (out.stdout + out.stderr).strip()))
    else:
        ran.append("hollowtrees check-config: %s" % what)


# ------------------------------------------------------------------- kubectl

DISCOVERY = {
    "": ("v1", ["namespaces", "services", "configmaps", "serviceaccounts", "pods", "persistentvolumeclaims"]),
    "apps": ("v1", ["deployments", "statefulsets", "daemonsets"]),
    "rbac.authorization.k8s.io": ("v1", ["clusterroles", "clusterrolebindings", "roles", "rolebindings"]),
}
KINDS = {"namespaces": "Namespace", "services": "Service", "configmaps": "ConfigMap",
         "serviceaccounts": "ServiceAccount", "pods": "Pod", "persistentvolumeclaims": "PersistentVolumeClaim",
         "deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet",
         "clusterroles": "ClusterRole", "clusterrolebindings": "ClusterRoleBinding", "roles": "Role",
         "rolebindings": "RoleBinding"}
CLUSTER_SCOPED = {"namespaces", "clusterroles", "clusterrolebindings"}


class DiscoveryOnly(http.server.BaseHTTPRequestHandler):
    """Answers discovery, and 404 NotFound for every object (nothing exists),
    which is all `kubectl apply --dry-run=client` asks of a server."""

    def log_message(self, *args):
        pass

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def resources(self, group):
        version, names = DISCOVERY[group]
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": (group + "/" if group else "") + version,
                "resources": [{"name": n, "singularName": "", "namespaced": n not in CLUSTER_SCOPED,
                               "kind": KINDS[n], "verbs": ["create", "delete", "get", "list", "patch",
                                                           "update", "watch"]} for n in names]}

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "29", "gitVersion": "v1.29.0"})
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = [{"name": g, "versions": [{"groupVersion": g + "/v1", "version": "v1"}],
                       "preferredVersion": {"groupVersion": g + "/v1", "version": "v1"}}
                      for g in DISCOVERY if g]
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if path == "/api/v1":
            return self.send_json(200, self.resources(""))
        for g in DISCOVERY:
            if g and path == "/apis/%s/v1" % g:
                return self.send_json(200, self.resources(g))
        self.send_json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "message": "%s not found" % path, "reason": "NotFound", "code": 404})


def check_kubectl():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        problem("kubectl is not installed (scripts/install-deps.sh)")
        return
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DiscoveryOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, HOME=home, KUBECONFIG=os.path.join(home, "none"))
            files = sorted(glob.glob(os.path.join(SRC, "deploy/kubernetes/*.yaml")))
            args = [kubectl, "apply", "--dry-run=client", "--validate=false",
                    "--server=http://127.0.0.1:%d" % server.server_address[1], "--request-timeout=10s"]
            for f in files:
                args += ["-f", f]
            out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
            lines = [l for l in out.stdout.splitlines() if l.strip()]
            want = sum(1 for f in files for d in yaml.safe_load_all(open(f)) if d)
            if out.returncode != 0 or len(lines) != want or not all("(dry run)" in l for l in lines):
                problem("kubectl apply --dry-run=client: exit %d, %d of %d objects:\n%s%s" %
                        (out.returncode, len(lines), want, out.stdout, out.stderr))
            else:
                ran.append("kubectl apply --dry-run=client --validate=false: %d objects" % want)
    finally:
        server.shutdown()
        server.server_close()


# ----------------------------------------------------------------------- iam


def check_iam():
    path = os.path.join(SRC, "deploy/aws/iam-policy.json")
    out = subprocess.run([sys.executable, "-m", "json.tool", path], capture_output=True, text=True)
    if out.returncode != 0:
        problem("%s: python3 -m json.tool: %s" % (path, out.stderr.strip()))
        return
    policy = json.loads(out.stdout)
    granted = set()
    for st in policy["Statement"]:
        if st.get("Effect") != "Allow":
            problem("iam-policy.json: statement %s is not Allow" % st.get("Sid"))
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        granted.update(actions)
    called = set()
    for service, source in (("autoscaling", "lib/aws/autoscaling.cc"), ("ec2", "lib/aws/ec2.cc")):
        for action in re.findall(r'Call\("([A-Za-z]+)"', open(os.path.join(SRC, source)).read()):
            called.add("%s:%s" % (service, action))
    if len(called) < 4:
        problem("found only %s in lib/aws: the check no longer reads the code" % sorted(called))
    if granted != called:
        problem("iam-policy.json allows %s; lib/aws calls %s (missing %s, extra %s)" %
                (sorted(granted), sorted(called), sorted(called - granted), sorted(granted - called)))
    else:
        ran.append("iam: json.tool, actions == lib/aws calls (%d)" % len(called))


# ---------------------------------------------------------------- prometheus


PROM_TEST = """
rule_files: [%(rules)s]
evaluation_interval: 5s
tests:
  - interval: 5s
    input_series:
      - series: 'aws_instance_termination_imminent{instance_action="terminate",instance_id="i-0abc",node="ip-10-0-1-23.ec2.internal",job="spot-termination-exporter"}'
        values: '1x10'
      - series: 'aws_instance_termination_imminent{instance_action="",instance_id="i-0def",node="ip-10-0-1-24.ec2.internal",job="spot-termination-exporter"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 10s
        alertname: SpotTerminationNotice
        exp_alerts:
          - exp_labels:
              alertname: SpotTerminationNotice
              cluster_name: %(cluster)s
              severity: critical
              instance_action: terminate
              instance_id: i-0abc
              node: ip-10-0-1-23.ec2.internal
              job: spot-termination-exporter
            exp_annotations:
              summary: "spot instance i-0abc (node ip-10-0-1-23.ec2.internal) will be terminated"
"""


def run_tool(args, what, cwd=None):
    tool = shutil.which(args[0])
    if not tool:
        problem("%s is not installed (scripts/install-deps.sh --test)" % args[0])
        return False
    out = subprocess.run([tool] + args[1:], capture_output=True, text=True, timeout=60, cwd=cwd)
    if out.returncode != 0:
        problem("%s failed (exit %d):\n%s%s" % (" ".join(args), out.returncode, out.stdout, out.stderr))
        return False
    ran.append(what)
    return True


def check_prometheus(tmp):
    rules = os.path.join(SRC, "deploy/prometheus/rules.yml")
    run_tool(["promtool", "check", "rules", rules], "promtool check rules deploy/prometheus/rules.yml")
    cluster = next(d for d in yaml.safe_load_all(open(os.path.join(SRC, "deploy/kubernetes/engine.yaml")))
                   if d and d.get("kind") == "ConfigMap")
    cluster = yaml.safe_load(cluster["data"]["rules.yaml"])["rules"][0]["match"][0]["cluster_name"]
    test = os.path.join(tmp, "spot_test.yml")
    with open(test, "w") as f:
        f.write(PROM_TEST % {"rules": json.dumps(rules), "cluster": cluster})
    run_tool(["promtool", "test", "rules", test],
             "promtool test rules: SpotTerminationNotice carries cluster_name, instance_id, node")
    # Debian's Prometheus is built without the Kubernetes service discovery:
    # its promtool rejects kubernetes_sd_configs. The Kubernetes snippets are
    # checked with that one key swapped for an empty static_configs (their
    # relabel rules are still checked); the plain-machine snippets as they are.
    for variant, snippets in (("kubernetes", ("scrape-configs.yml", "alerting.yml")),
                              ("plain machines", ("scrape-configs-static.yml", "alerting-static.yml"))):
        config = {"global": {"scrape_interval": "15s", "evaluation_interval": "15s"}, "rule_files": [rules]}
        for snippet in snippets:
            config.update(yaml.safe_load(open(os.path.join(SRC, "deploy/prometheus", snippet))))
        swapped = 0
        for section in config.get("scrape_configs", []) + config["alerting"]["alertmanagers"]:
            if "kubernetes_sd_configs" in section:
                for sd in section.pop("kubernetes_sd_configs"):
                    if sd.get("role") not in ("pod", "endpoints", "service", "node", "endpointslice", "ingress"):
                        problem("%s: kubernetes_sd_configs role %r" % (variant, sd.get("role")))
                section["static_configs"] = [{"targets": []}]
                swapped += 1
        path = os.path.join(tmp, "prometheus-%s.yml" % variant.replace(" ", "-"))
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        run_tool(["promtool", "check", "config", path],
                 "promtool check config (%s): %s + rules.yml%s" %
                 (variant, " + ".join(snippets),
                  ", kubernetes_sd_configs swapped in %d sections" % swapped if swapped else ""))


def check_alertmanager(tmp):
    snippet = yaml.safe_load(open(os.path.join(SRC, "deploy/alertmanager/receiver.yml")))
    config = {"route": dict(snippet["route"], receiver="people"),
              "receivers": [{"name": "people"}] + snippet["receivers"]}
    path = os.path.join(tmp, "alertmanager.yml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    if run_tool(["amtool", "check-config", path], "amtool check-config: receiver.yml in a minimal config"):
        url = snippet["receivers"][0]["webhook_configs"][0]["url"]
        if not url.endswith(":9092/api/v1/webhooks/alertmanager"):
            problem("receiver.yml: webhook url %s is not the engine's /api/v1/webhooks/alertmanager" % url)


# ------------------------------------------------------------------- systemd


def check_systemd(tmp):
    units = sorted(glob.glob(os.path.join(SRC, "deploy/systemd/*.service")))
    if len(units) != 4:
        problem("expected 4 systemd units, found %s" % [os.path.basename(u) for u in units])
    analyze = shutil.which("systemd-analyze")
    for unit in units:
        name = os.path.basename(unit)
        text = open(unit).read()
        for line in text.splitlines():
            m = re.match(r"Exec(?:Start|StartPre|Reload)=(/usr/local/bin/(\S+))(.*)", line)
            if m:
                check_flags("deploy/systemd/%s" % name, m.group(2), m.group(3).split())
        for key in ("ProtectSystem=strict", "NoNewPrivileges=yes", "DynamicUser=yes"):
            if key not in text:
                problem("deploy/systemd/%s: no %s" % (name, key))
        if not analyze:
            problem("systemd-analyze is not installed (package systemd)")
            continue
        copy = os.path.join(tmp, name)
        with open(copy, "w") as f:
            f.write(text.replace("/usr/local/bin/", BIN.rstrip("/") + "/"))
        out = subprocess.run([analyze, "verify", copy], capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
        # Unknown keys and bad values are only warnings: any output is a problem.
        if out.returncode != 0 or (out.stdout + out.stderr).strip():
            problem("systemd-analyze verify %s (exit %d):\n%s%s" % (name, out.returncode, out.stdout, out.stderr))
        else:
            ran.append("systemd-analyze verify %s" % name)
    if "StateDirectory=hollowtrees" not in open(os.path.join(SRC, "deploy/systemd/hollowtrees.service")).read():
        problem("hollowtrees.service: the journal needs StateDirectory=hollowtrees")
    check_config(os.path.join(SRC, "deploy/systemd/rules.yaml"), "deploy/systemd/rules.yaml")


def main():
    global SRC, BIN
    SRC, BIN = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    check_kubernetes(load_manifests())
    check_kubectl()
    check_iam()
    with tempfile.TemporaryDirectory() as tmp:
        check_prometheus(tmp)
        check_alertmanager(tmp)
        check_systemd(tmp)
    for line in ran:
        print("ok: " + line)
    for p in problems:
        print("PROBLEM: " + p)
    if problems:
        print("%d problem(s)" % len(problems))
        return 1
    print("all deploy checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
