"""Checks shared by check_deploy.py (deploy/kubernetes as written) and
check_chart.py (what the Helm chart and the kustomizations render): the
objects' structure and references to each other, every container flag against
the binary's --helpfull, the engine's rules against `hollowtrees check-config`,
the drain plugin's ClusterRole against the code.

A Context collects problems and what ran; nothing here exits or prints.
"""
import os
import re
import subprocess
import tempfile

import yaml

NAMESPACED = {"Deployment", "StatefulSet", "DaemonSet", "Service", "ConfigMap", "ServiceAccount",
              "Role", "RoleBinding", "PodDisruptionBudget", "ServiceMonitor", "PodMonitor",
              "PrometheusRule", "Issuer", "Certificate"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}
# Our binaries, all in the one image. Containers running anything else (the
# second scheduler's kube-scheduler) are listed in Context.foreign_commands.
BINARIES = {"hollowtrees", "ht-k8s-action-plugin", "ht-aws-asg-action-plugin",
            "spot-termination-exporter", "spot-config-webhook"}
# What the issue grants the drain plugin, plus daemonsets get (the --force rule
# for DaemonSet pods whose DaemonSet is gone, plugins/k8s/kube_http_api.cc).
DRAIN_RBAC = {("", "nodes"): {"get", "list", "patch"},
              ("", "pods"): {"get", "list", "delete"},
              ("", "pods/eviction"): {"create"},
              ("", "events"): {"create"},
              ("apps", "daemonsets"): {"get"}}


class Context:
    """Where the sources and binaries are, and what was found."""

    def __init__(self, src, bin_dir):
        self.src = src
        self.bin = bin_dir
        self.problems = []
        self.ran = []
        self.foreign_commands = {"kube-scheduler"}
        self._flags = {}

    def problem(self, msg):
        self.problems.append(msg)

    def ok(self, msg):
        self.ran.append(msg)

    # ------------------------------------------------------------- flags

    def known_flags(self, binary):
        """The flags `binary --helpfull` lists (underscore spelling)."""
        if binary not in self._flags:
            path = os.path.join(self.bin, binary)
            try:
                out = subprocess.run([path, "--helpfull"], capture_output=True, text=True, timeout=20)
                text = out.stdout + out.stderr
            except OSError as e:
                self.problem("cannot run %s --helpfull: %s" % (path, e))
                text = ""
            flags = set(re.findall(r"--([a-z0-9_]+)", text))
            if "log_level" not in flags:
                self.problem("cannot read the flags of %s" % path)
            self._flags[binary] = flags
        return self._flags[binary]

    def check_flags(self, where, binary, args):
        flags = self.known_flags(binary)
        for arg in args:
            if not arg.startswith("--"):
                continue
            name = arg[2:].split("=", 1)[0].replace("-", "_")
            if name not in flags:
                self.problem("%s: %s has no flag --%s" % (where, binary, name))

    # ------------------------------------------------------ check-config

    def check_config(self, path, what):
        """`hollowtrees check-config PATH`; True when it passes."""
        out = subprocess.run([os.path.join(self.bin, "hollowtrees"), "check-config", path],
                             capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            self.problem("%s: hollowtrees check-config failed: %s" % (what, (out.stdout + out.stderr).strip()))
            return False
        self.ok("hollowtrees check-config: %s" % what)
        return True

    def check_config_text(self, text, what):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rules.yaml")
            with open(path, "w") as f:
                f.write(text)
            return self.check_config(path, what)


def flag_value(args, name):
    for arg in args:
        if arg.startswith("--" + name + "=") or arg.startswith("--" + name.replace("-", "_") + "="):
            return arg.split("=", 1)[1]
    return None


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


def load_docs(text, name):
    """The non-empty documents of a YAML stream, as (name, doc) pairs."""
    return [(name, doc) for doc in yaml.safe_load_all(text) if doc is not None]


# ---------------------------------------------------------------- objects


def check_objects(ctx, docs, engine_namespace="hollowtrees", alert_rules=None, external_namespaces=(),
                  external_plugins=()):
    """Structure of a set of objects and their references to each other.

    docs: (file name, object) pairs. engine_namespace: where the engine's
    ConfigMap hollowtrees-rules is, when the set has an engine. alert_rules:
    Prometheus rule groups whose Spot* alerts must carry a cluster_name the
    engine's rules match. external_namespaces: namespaces the set may use
    without defining (e.g. the release namespace Helm creates, kube-system).
    external_plugins: names of action plugins the engine's rules may list at
    addresses outside these objects.
    """
    objects = {}
    for name, doc in docs:
        for field in ("apiVersion", "kind", "metadata"):
            if field not in doc:
                ctx.problem("%s: no %s" % (name, field))
        md = doc.get("metadata") or {}
        if not md.get("name"):
            ctx.problem("%s: no metadata.name" % where(name, doc))
        if doc.get("kind") in NAMESPACED and not md.get("namespace"):
            ctx.problem("%s: namespaced kind without metadata.namespace" % where(name, doc))
        key = (doc.get("kind"), md.get("namespace"), md.get("name"))
        if key in objects:
            ctx.problem("%s: defined twice" % where(name, doc))
        objects[key] = (name, doc)

    def exists(kind, ns, obj_name):
        return (kind, ns, obj_name) in objects

    namespaces = {k[2] for k in objects if k[0] == "Namespace"} | set(external_namespaces)
    workloads = []
    for (kind, ns, obj_name), (name, doc) in objects.items():
        if ns is not None and ns not in namespaces:
            ctx.problem("%s: namespace %s is not defined" % (where(name, doc), ns))
        if kind not in WORKLOADS:
            continue
        spec = doc["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        if not spec["selector"]["matchLabels"] or spec["selector"]["matchLabels"].items() - labels.items():
            ctx.problem("%s: selector does not match the pod template's labels" % where(name, doc))
        sa = pod.get("serviceAccountName")
        if sa and not exists("ServiceAccount", ns, sa):
            ctx.problem("%s: ServiceAccount %s is not defined" % (where(name, doc), sa))
        for v in pod.get("volumes", []):
            if "configMap" in v and not exists("ConfigMap", ns, v["configMap"]["name"]):
                ctx.problem("%s: ConfigMap %s is not defined" % (where(name, doc), v["configMap"]["name"]))
        claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
        volumes = {v["name"] for v in pod.get("volumes", [])} | claims
        ports = container_ports(pod)
        for c in pod.get("containers", []):
            cw = "%s container %s" % (where(name, doc), c["name"])
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    ctx.problem("%s: mounts undefined volume %s" % (cw, m["name"]))
            binary = (c.get("command") or [None])[0]
            if binary in ctx.foreign_commands:
                continue
            if binary not in BINARIES:
                ctx.problem("%s: command %r is not one of %s" % (cw, binary, sorted(BINARIES)))
                continue
            ctx.check_flags(cw, binary, c.get("args", []))
            for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c.get(probe_name)
                if not probe:
                    # The scheduler's extender sidecar is probed through its
                    # scheduler; everything else needs liveness and readiness.
                    if probe_name != "startupProbe" and flag_value(c.get("args", []), "serve") != "extender":
                        ctx.problem("%s: no %s" % (cw, probe_name))
                    continue
                if "httpGet" in probe:
                    port = probe["httpGet"]["port"]
                    if port not in ports:
                        ctx.problem("%s: %s port %s is not a container port" % (cw, probe_name, port))
                elif "grpc" in probe:
                    port = probe["grpc"]["port"]
                    if not isinstance(port, int) or port not in ports:
                        ctx.problem("%s: %s gRPC port %s is not a numbered container port" %
                                    (cw, probe_name, port))
                else:
                    ctx.problem("%s: %s is neither httpGet nor grpc" % (cw, probe_name))
            # Plugins serve grpc.health.v1: their probes must use it; the
            # engine serves /healthz and /readyz.
            if binary.startswith("ht-") and "grpc" not in (c.get("readinessProbe") or {}):
                ctx.problem("%s: a plugin's readiness probe should be a gRPC health probe" % cw)
            if binary == "hollowtrees":
                paths = {p: (c.get(p) or {}).get("httpGet", {}).get("path")
                         for p in ("livenessProbe", "readinessProbe")}
                if paths != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
                    ctx.problem("%s: probes should be /healthz (liveness) and /readyz (readiness), are %s" %
                                (cw, paths))
            listen = flag_value(c.get("args", []), "listen") or flag_value(c.get("args", []), "bind-addr")
            if listen and not listen.startswith("127.0.0.1:"):
                port = int(listen.rsplit(":", 1)[1])
                if port not in ports:
                    ctx.problem("%s: listens on %d, which is not a container port" % (cw, port))
        workloads.append((kind, ns, obj_name, name, doc, labels, ports))

    # Services select a workload and name its ports.
    services = {}
    for (kind, ns, obj_name), (name, doc) in objects.items():
        if kind != "Service":
            continue
        sel = doc["spec"].get("selector", {})
        matched = [w for w in workloads if w[1] == ns and sel and not (sel.items() - w[5].items())]
        if not matched:
            ctx.problem("%s: selector %s matches no pod template" % (where(name, doc), sel))
            continue
        for p in doc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if target not in matched[0][6]:
                ctx.problem("%s: targetPort %s is not a container port of %s" %
                            (where(name, doc), target, matched[0][2]))
            else:
                services["%s.%s.svc:%d" % (obj_name, ns, p["port"])] = matched[0]

    # RBAC references. Built-in roles (system:*, extension-apiserver-*) are
    # the cluster's.
    for (kind, ns, obj_name), (name, doc) in objects.items():
        if kind not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        ref = doc["roleRef"]
        builtin = ref["name"].startswith("system:") or ref["name"].startswith("extension-apiserver-")
        if not builtin and not exists(ref["kind"], None if ref["kind"] == "ClusterRole" else ns, ref["name"]):
            ctx.problem("%s: %s %s is not defined" % (where(name, doc), ref["kind"], ref["name"]))
        for s in doc["subjects"]:
            if s["kind"] == "ServiceAccount" and not exists("ServiceAccount", s["namespace"], s["name"]):
                ctx.problem("%s: ServiceAccount %s/%s is not defined" %
                            (where(name, doc), s["namespace"], s["name"]))

    if ("ClusterRole", None, "ht-k8s-action-plugin") in objects:
        check_drain_rbac(ctx, objects[("ClusterRole", None, "ht-k8s-action-plugin")][1])
    if ("ConfigMap", engine_namespace, "hollowtrees-rules") in objects:
        check_engine_wiring(ctx, objects, engine_namespace, workloads, services, alert_rules, external_plugins)
    return objects


def drain_rbac_grants(role):
    """{(apiGroup, resource): verbs} of a ClusterRole, wildcards as they are."""
    granted = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                granted.setdefault((group, res), set()).update(rule["verbs"])
    return granted


def check_drain_rbac(ctx, role):
    granted = drain_rbac_grants(role)
    for (group, res), verbs in granted.items():
        if "*" in (group, res) or "*" in verbs:
            ctx.problem("ClusterRole ht-k8s-action-plugin: wildcard in %s %s %s" % (group, res, sorted(verbs)))
    if granted != DRAIN_RBAC:
        ctx.problem("ClusterRole ht-k8s-action-plugin grants %s, expected exactly %s" %
                    (sorted((k, sorted(v)) for k, v in granted.items()),
                     sorted((k, sorted(v)) for k, v in DRAIN_RBAC.items())))
    # And the code calls exactly those resources.
    code = open(os.path.join(ctx.src, "plugins/k8s/kube_http_api.cc")).read()
    used = set()
    for group, res, sub in re.findall(
            r'ResourcePath\("([a-z.]*)", "v1", "([a-z]+)"(?:, [^,()]+, [^,()]+, "([a-z]+)")?', code):
        used.add((group, res + ("/" + sub if sub else "")))
    for res in re.findall(r'List\("/api/v1/([a-z]+)"', code):
        used.add(("", res))
    if used != set(DRAIN_RBAC):
        ctx.problem("plugins/k8s/kube_http_api.cc uses %s; the ClusterRole covers %s" %
                    (sorted(used), sorted(DRAIN_RBAC)))


def check_engine_wiring(ctx, objects, ns, workloads, services, alert_rules, external_plugins=()):
    """The engine's rules pass check-config; its plugin addresses are the
    plugins' Services; the exporter pushes to the engine's Service with a
    cluster_name the rules match; so do the Spot* alerts."""
    what = "ConfigMap %s/hollowtrees-rules" % ns
    rules_text = objects[("ConfigMap", ns, "hollowtrees-rules")][1]["data"]["rules.yaml"]
    ctx.check_config_text(rules_text, what)
    rules = yaml.safe_load(rules_text)
    for plugin in rules["action_plugins"]:
        if plugin["name"] in external_plugins:
            continue
        target = services.get(plugin["address"])
        if not target:
            ctx.problem("%s: plugin %s address %s is no Service port of these objects" %
                        (what, plugin["name"], plugin["address"]))
        elif target[4]["spec"]["template"]["spec"]["containers"][0]["command"][0] != plugin["name"]:
            ctx.problem("%s: address %s reaches %s, not %s" % (what, plugin["address"], target[2], plugin["name"]))
    clusters = {m["cluster_name"] for r in rules["rules"] for m in r.get("match", []) if "cluster_name" in m}
    engine_svc = [k for k, w in services.items() if w[2] == "hollowtrees"]
    for w in workloads:
        for c in w[4]["spec"]["template"]["spec"]["containers"]:
            if (c.get("command") or [None])[0] != "spot-termination-exporter":
                continue
            args = c.get("args", [])
            url = flag_value(args, "notify-url") or ""
            m = re.match(r"http://([^/]+)/api/v1/events$", url)
            if not m or m.group(1) not in engine_svc:
                ctx.problem("exporter --notify-url %r is not the engine Service's /api/v1/events (%s)" %
                            (url, engine_svc))
            label = flag_value(args, "notify-label") or ""
            if "cluster_name=" not in label or label.split("cluster_name=", 1)[1].split(",")[0] not in clusters:
                ctx.problem("exporter --notify-label %r does not set a cluster_name the rules match (%s)" %
                            (label, sorted(clusters)))
            if not any(e.get("name") == "NODE_NAME" and
                       e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName"
                       for e in c.get("env", [])):
                ctx.problem("exporter: NODE_NAME is not taken from spec.nodeName")
    for g in alert_rules or []:
        for r in g["rules"]:
            if r.get("alert", "").startswith("Spot") and "cluster_name" in r.get("labels", {}):
                if r["labels"]["cluster_name"] not in clusters:
                    ctx.problem("alert %s sets cluster_name=%s; the engine's rules match %s" %
                                (r["alert"], r["labels"]["cluster_name"], sorted(clusters)))
