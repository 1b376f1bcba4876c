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
              the resources its code calls; the engine in its high
              availability mode: a StatefulSet of 3 replicas whose rules have
              `ha:` in its own namespace, POD_NAME from the downward API, a
              ServiceAccount whose Role grants exactly leases get/create/update
              and configmaps get/list/create/update/patch (nothing
              cluster-wide), data_dir on an emptyDir, a PodDisruptionBudget
              selecting its pods, spread over zones and nodes, off spot
              capacity (deploylib.check_engine_workload).
  kubectl     the real `kubectl apply --dry-run=client --validate=false` on
              every manifest, and with -k on the kustomization, against a
              local discovery-only API server started here (kubectl needs
              discovery even in client mode).
  iam         deploy/aws/iam-policy.json parses (python3 -m json.tool) and its
              actions are exactly the AWS actions lib/aws calls for the plugin.
  prometheus  promtool check rules, promtool test rules (the alert carries
              cluster_name, instance_id, node), promtool check config on a
              prometheus.yml made of the snippets; alerting.yml's discovery
              and relabelling, applied to the targets deploy/kubernetes would
              give, keep every engine replica once and nothing else.
  alertmanager amtool check-config on an alertmanager.yml made of the snippet.
  systemd     systemd-analyze verify on each unit (binaries pointed at
              BIN_DIR), flags in ExecStart known to the binary,
              `hollowtrees check-config` on deploy/systemd/rules.yaml.

The kubernetes checks live in deploylib.py, shared with check_chart.py (the
Helm chart and the kustomizations).
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

import deploylib

SRC = BIN = None
ctx = None  # deploylib.Context, set by main()


def problem(msg):
    ctx.problem(msg)


def check_flags(where, binary, args):
    ctx.check_flags(where, binary, args)


def check_config(path, what):
    ctx.check_config(path, what)


# ---------------------------------------------------------------- kubernetes


def manifest_files():
    """deploy/kubernetes/*.yaml but the kustomization (not an object)."""
    return [f for f in sorted(glob.glob(os.path.join(SRC, "deploy/kubernetes/*.yaml")))
            if os.path.basename(f) != "kustomization.yaml"]


def load_manifests():
    docs = []
    for path in manifest_files():
        with open(path) as f:
            try:
                docs += deploylib.load_docs(f, os.path.basename(path))
            except yaml.YAMLError as e:
                problem("%s: not YAML: %s" % (path, e))
    if not docs:
        problem("no manifests in deploy/kubernetes")
    return docs


def check_kubernetes(docs):
    """Structure, references, flags and RBAC (deploylib.check_objects), with
    the alert rules' cluster_name checked against the engine's rules."""
    ctx.ok("kubernetes: structure, references, flags, RBAC of %d objects" % len(docs))
    prom = yaml.safe_load(open(os.path.join(SRC, "deploy/prometheus/rules.yml")))
    objects = deploylib.check_objects(ctx, docs, engine_namespace="hollowtrees", alert_rules=prom["groups"])
    if ("ClusterRole", None, "ht-k8s-action-plugin") not in objects:
        problem("no ClusterRole ht-k8s-action-plugin")
    if ("ConfigMap", "hollowtrees", "hollowtrees-rules") not in objects:
        problem("no ConfigMap hollowtrees/hollowtrees-rules")
    # deploy/kubernetes runs the high availability mode with three replicas;
    # deploylib.check_engine_workload checks the rest of it against the rules.
    engine = objects.get(("StatefulSet", "hollowtrees", "hollowtrees"))
    rules = objects.get(("ConfigMap", "hollowtrees", "hollowtrees-rules"))
    if not engine:
        problem("no StatefulSet hollowtrees/hollowtrees (the engine)")
    elif engine[1]["spec"].get("replicas") != 3:
        problem("%s: %s replicas, expected 3" % (deploylib.where(*engine), engine[1]["spec"].get("replicas")))
    elif rules and "ha" not in (yaml.safe_load(rules[1]["data"]["rules.yaml"]) or {}):
        problem("ConfigMap hollowtrees/hollowtrees-rules: no ha: for the engine's three replicas")
    else:
        ctx.ok("kubernetes: the engine is a StatefulSet of 3 replicas with rules.yaml ha:")
    return objects


# ------------------------------------------------------------------- kubectl

DISCOVERY = {
    "": ("v1", ["namespaces", "services", "configmaps", "serviceaccounts", "pods", "persistentvolumeclaims"]),
    "apps": ("v1", ["deployments", "statefulsets", "daemonsets"]),
    "rbac.authorization.k8s.io": ("v1", ["clusterroles", "clusterrolebindings", "roles", "rolebindings"]),
    "policy": ("v1", ["poddisruptionbudgets"]),
}
KINDS = {"namespaces": "Namespace", "services": "Service", "configmaps": "ConfigMap",
         "serviceaccounts": "ServiceAccount", "pods": "Pod", "persistentvolumeclaims": "PersistentVolumeClaim",
         "deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet",
         "clusterroles": "ClusterRole", "clusterrolebindings": "ClusterRoleBinding", "roles": "Role",
         "rolebindings": "RoleBinding", "poddisruptionbudgets": "PodDisruptionBudget"}
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
            files = manifest_files()
            want = sum(1 for f in files for d in yaml.safe_load_all(open(f)) if d)
            base = [kubectl, "apply", "--dry-run=client", "--validate=false",
                    "--server=http://127.0.0.1:%d" % server.server_address[1], "--request-timeout=10s"]
            # Each file, and the kustomization (`kubectl apply -k`), which
            # must name them all.
            variants = (("-f each file", [a for f in files for a in ("-f", f)]),
                        ("-k deploy/kubernetes", ["-k", os.path.join(SRC, "deploy/kubernetes")]))
            for what, args in variants:
                out = subprocess.run(base + args, capture_output=True, text=True, timeout=60, env=env)
                lines = [l for l in out.stdout.splitlines() if l.strip()]
                if out.returncode != 0 or len(lines) != want or not all("(dry run)" in l for l in lines):
                    problem("kubectl apply --dry-run=client %s: exit %d, %d of %d objects:\n%s%s" %
                            (what, out.returncode, len(lines), want, out.stdout, out.stderr))
                else:
                    ctx.ok("kubectl apply --dry-run=client --validate=false %s: %d objects" % (what, want))
    finally:
        server.shutdown()
        server.server_close()


# ----------------------------------------------------------------------- iam


def granted_actions(name):
    """The actions an IAM policy of deploy/aws allows (None when unreadable)."""
    path = os.path.join(SRC, "deploy/aws", name)
    out = subprocess.run([sys.executable, "-m", "json.tool", path], capture_output=True, text=True)
    if out.returncode != 0:
        problem("%s: python3 -m json.tool: %s" % (path, out.stderr.strip()))
        return None
    granted = set()
    for st in json.loads(out.stdout)["Statement"]:
        if st.get("Effect") != "Allow":
            problem("%s: statement %s is not Allow" % (name, st.get("Sid")))
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        granted.update(actions)
    return granted


def calls_in(service, source, pattern=r'Call\("([A-Za-z]+)"'):
    return {"%s:%s" % (service, a)
            for a in re.findall(pattern, open(os.path.join(SRC, source)).read())}


def compare_policy(name, granted, called, who):
    if granted is None:
        return
    if granted != called:
        problem("%s allows %s; %s calls %s (missing %s, extra %s)" %
                (name, sorted(granted), who, sorted(called), sorted(called - granted),
                 sorted(granted - called)))
    else:
        ctx.ok("iam: %s: json.tool, actions == what %s calls (%d)" % (name, who, len(called)))


def check_iam():
    # The Auto Scaling plugin: every Auto Scaling and EC2 call of lib/aws.
    called = calls_in("autoscaling", "lib/aws/autoscaling.cc") | calls_in("ec2", "lib/aws/ec2.cc")
    if len(called) < 4:
        problem("found only %s in lib/aws: the check no longer reads the code" % sorted(called))
    compare_policy("iam-policy.json", granted_actions("iam-policy.json"), called,
                   "the Auto Scaling plugin (lib/aws/autoscaling.cc, ec2.cc)")
    # The engine's SQS sources: the SQS calls of lib/aws/sqs.cc (a batch
    # call is authorized by its single action) and the instances' labels.
    sqs = {a.replace("Batch", "") for a in calls_in("sqs", "lib/aws/sqs.cc",
                                                    r'(?:Call\(|kAction = )"([A-Za-z]+)"')}
    if "sqs:ReceiveMessage" not in sqs:
        problem("found only %s in lib/aws/sqs.cc: the check no longer reads the code" % sorted(sqs))
    if "DescribeInstances" not in open(os.path.join(SRC, "engine/sources/sqs_source.cc")).read():
        problem("engine/sources/sqs_source.cc no longer describes instances: update the check")
    compare_policy("engine-iam-policy.json", granted_actions("engine-iam-policy.json"),
                   sqs | {"ec2:DescribeInstances"}, "the engine (lib/aws/sqs.cc, engine/sources)")


# ---------------------------------------------------------------- prometheus


PROM_TEST = """
rule_files: [%(rules)s]
evaluation_interval: 5s
tests:
  # Three replicas: one leads, then none (the API server unreachable).
  - interval: 15s
    input_series:
      - series: 'hollowtrees_leader{job="hollowtrees",instance="a"}'
        values: '1 1 1 1 1 1 0 0 0 0 0 0 0 0 0'
      - series: 'hollowtrees_leader{job="hollowtrees",instance="b"}'
        values: '0x14'
      - series: 'hollowtrees_leader{job="hollowtrees",instance="c"}'
        values: '0x14'
    alert_rule_test:
      - eval_time: 75s
        alertname: HollowtreesNoLeader
      - eval_time: 180s
        alertname: HollowtreesNoLeader
        exp_alerts:
          - exp_labels:
              severity: critical
            exp_annotations:
              summary: "0 engine replicas act, not 1: spot interruptions may not be handled"
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
    ctx.ok(what)
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


def label_name(name):
    """A Kubernetes label name as Prometheus' discovery spells it."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def discovered_targets(objects, role):
    """The targets kubernetes_sd_configs of `role` would discover from the
    objects of deploy/kubernetes, every replica a pod (a DaemonSet: two), as
    (labels, (workload, replica, container port)) pairs."""
    pods = []
    for (kind, ns, name), (_, doc) in objects.items():
        if kind not in deploylib.WORKLOADS:
            continue
        replicas = 2 if kind == "DaemonSet" else doc["spec"].get("replicas", 1)
        template = doc["spec"]["template"]
        for i in range(replicas):
            labels = {"__meta_kubernetes_namespace": ns, "__meta_kubernetes_pod_name": "%s-%d" % (name, i)}
            for k, v in template["metadata"].get("labels", {}).items():
                labels["__meta_kubernetes_pod_label_" + label_name(k)] = v
            pods.append((name, i, template["metadata"].get("labels", {}), labels,
                         deploylib.container_ports(template["spec"])))
    targets = []
    if role == "pod":
        for name, i, _, labels, ports in pods:
            for port in {p["containerPort"]: p for p in ports.values()}.values():
                targets.append((dict(labels, __meta_kubernetes_pod_container_port_name=port.get("name", "")),
                                (name, i, port["containerPort"])))
    elif role == "endpoints":
        for (kind, ns, name), (_, doc) in objects.items():
            if kind != "Service" or not doc["spec"].get("selector"):
                continue
            sel = doc["spec"]["selector"]
            for pod_name, i, pod_labels, labels, ports in pods:
                if labels["__meta_kubernetes_namespace"] != ns or sel.items() - pod_labels.items():
                    continue
                for p in doc["spec"]["ports"]:
                    target = ports.get(p.get("targetPort", p["port"]))
                    if target:
                        targets.append((dict(labels, __meta_kubernetes_service_name=name,
                                             __meta_kubernetes_endpoint_port_name=p.get("name", "")),
                                        (pod_name, i, target["containerPort"])))
    return targets


def relabel_keeps(configs, labels):
    """Whether relabel_configs made of keep and drop actions keep a target."""
    for rc in configs:
        action = rc.get("action", "replace")
        value = rc.get("separator", ";").join(labels.get(l, "") for l in rc.get("source_labels", []))
        matched = re.fullmatch(rc.get("regex", "(.*)"), value) is not None
        if action == "keep" and not matched or action == "drop" and matched:
            return False
        if action not in ("keep", "drop"):
            problem("alerting.yml: relabel action %r: this check simulates keep and drop only; extend it" % action)
    return True


def check_alerting_targets(objects):
    """Prometheus sends each alert to every alertmanager it has: alerting.yml
    must give one per engine replica (the Service's endpoints, or its pods),
    never the Service's load-balanced address, and nothing else."""
    engine = objects.get(("StatefulSet", "hollowtrees", "hollowtrees"))
    if not engine:
        return
    replicas = engine[1]["spec"].get("replicas", 1)
    port = deploylib.container_ports(engine[1]["spec"]["template"]["spec"])["http"]["containerPort"]
    want = {("hollowtrees", i, port) for i in range(replicas)}
    alerting = yaml.safe_load(open(os.path.join(SRC, "deploy/prometheus/alerting.yml")))["alerting"]
    got = []
    for am in alerting["alertmanagers"]:
        for sc in am.get("static_configs", []):
            for t in sc.get("targets", []):
                problem("alerting.yml: static target %s: list every engine replica through discovery, "
                        "not an address" % t)
        for sd in am.get("kubernetes_sd_configs", []):
            role = sd.get("role")
            if role not in ("endpoints", "pod"):
                problem("alerting.yml: kubernetes_sd_configs role %r does not give one alertmanager per engine "
                        "replica (endpoints or pod do)" % role)
                continue
            names = (sd.get("namespaces") or {}).get("names")
            for labels, target in discovered_targets(objects, role):
                if names and labels["__meta_kubernetes_namespace"] not in names:
                    continue
                if relabel_keeps(am.get("relabel_configs", []), labels):
                    got.append(target)
    if sorted(got) != sorted(want):
        problem("alerting.yml: the alertmanagers Prometheus would discover from deploy/kubernetes are %s; "
                "expected every engine replica once on its http port: %s" % (sorted(got), sorted(want)))
    else:
        ctx.ok("prometheus: alerting.yml discovers every engine replica once (%d alertmanagers, port %d), "
               "nothing else" % (len(want), port))


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
            ctx.ok("systemd-analyze verify %s" % name)
    if "StateDirectory=hollowtrees" not in open(os.path.join(SRC, "deploy/systemd/hollowtrees.service")).read():
        problem("hollowtrees.service: the journal needs StateDirectory=hollowtrees")
    check_config(os.path.join(SRC, "deploy/systemd/rules.yaml"), "deploy/systemd/rules.yaml")


def main():
    global SRC, BIN, ctx
    SRC, BIN = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    ctx = deploylib.Context(SRC, BIN)
    objects = check_kubernetes(load_manifests())
    check_alerting_targets(objects)
    check_kubectl()
    check_iam()
    with tempfile.TemporaryDirectory() as tmp:
        check_prometheus(tmp)
        check_alertmanager(tmp)
        check_systemd(tmp)
    for line in ctx.ran:
        print("ok: " + line)
    for p in ctx.problems:
        print("PROBLEM: " + p)
    if ctx.problems:
        print("%d problem(s)" % len(ctx.problems))
        return 1
    print("all deploy checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
