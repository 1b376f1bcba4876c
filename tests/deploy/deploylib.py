"""Checks shared by check_deploy.py (deploy/kubernetes as written) and
check_chart.py (what the Helm chart and the kustomizations render): the
objects' structure and references to each other, every container flag against
the binary's --helpfull, the engine's rules against `hollowtrees check-config`,
the drain plugin's ClusterRole against the code, and the engine's workload
against its rules (one replica with a journal volume, or the high
availability mode with its Role, identity, budget and spread).

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
# What the engine's high availability mode (rules.yaml `ha:`,
# docs/high-availability.md) calls, all in ha.namespace: the election as client-go's (get,
# create, update with resourceVersion) and the ConfigMaps of the leader's
# shared state and the replicas' inboxes. Exactly this, through a Role;
# nothing cluster-wide.
ENGINE_HA_RBAC = {("coordination.k8s.io", "leases"): {"get", "create", "update"},
                  ("", "configmaps"): {"get", "list", "create", "update", "patch"}}
# The engine must outlive the spot nodes it acts on: every term of its
# required node affinity excludes the labels EKS and Karpenter put on them.
ANTI_SPOT = {("eks.amazonaws.com/capacityType", "NotIn", ("SPOT",)),
             ("karpenter.sh/capacity-type", "NotIn", ("spot",))}
# What the engine's replicas spread over (with `ha:`).
ENGINE_SPREAD_KEYS = ("topology.kubernetes.io/zone", "kubernetes.io/hostname")


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


def rbac_grants(role):
    """{(apiGroup, resource): verbs} of a Role or ClusterRole, wildcards as they are."""
    granted = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                granted.setdefault((group, res), set()).update(rule["verbs"])
    return granted


def check_drain_rbac(ctx, role):
    granted = rbac_grants(role)
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
    file_name, rules_doc = objects[("ConfigMap", ns, "hollowtrees-rules")]
    what = "%s: ConfigMap %s/hollowtrees-rules" % (file_name, ns)
    rules_text = rules_doc["data"]["rules.yaml"]
    ctx.check_config_text(rules_text, what)
    rules = yaml.safe_load(rules_text)
    check_engine_workload(ctx, objects, ns, rules)
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


# ------------------------------------------------------- engine workload


def go_seconds(text):
    """Seconds of a flag duration (Go/Abseil: 30s, 1m30s, 500ms), or None."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    if text == "0":
        return 0.0
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|us|ns|h|m|s)", text or "")
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * units[u] for n, u in parts)


def selects(selector, labels):
    """A label selector (matchLabels only) that selects pods with `labels`."""
    match = (selector or {}).get("matchLabels") or {}
    return bool(match) and not (match.items() - labels.items()) and not (selector or {}).get("matchExpressions")


def disruptions_allowed(pdb_spec, replicas):
    """How many of `replicas` healthy pods a PodDisruptionBudget lets go at once."""
    def count(value, round_up):
        if isinstance(value, str) and value.endswith("%"):
            exact = int(value[:-1]) * replicas / 100.0
            return int(-(-exact // 1)) if round_up else int(exact)
        return int(value)
    if "maxUnavailable" in pdb_spec:
        return count(pdb_spec["maxUnavailable"], True)
    return replicas - count(pdb_spec.get("minAvailable", 1), True)


def check_engine_workload(ctx, objects, ns, rules):
    """The engine's workload against its rules.

    Always: one workload runs the engine, off spot capacity. Without `ha:`,
    one replica whose data_dir is a volume claim (the journal). With `ha:`:
    a StatefulSet (stable pod names) of more than one replica in ha.namespace,
    POD_NAME from metadata.name (unless ha.identity), a ServiceAccount (unless
    ha.kubeconfig) granted exactly ENGINE_HA_RBAC by Roles of ha.namespace and
    nothing cluster-wide, data_dir on an emptyDir and no volume claims, a
    PodDisruptionBudget selecting the pods that lets at least one but not all
    go, spread over zones and nodes, and time after --shutdown-grace to hand
    over.
    """
    engines = [(key, val) for key, val in objects.items()
               if key[0] in WORKLOADS and key[1] == ns and
               any((c.get("command") or [None])[0] == "hollowtrees"
                   for c in val[1]["spec"]["template"]["spec"].get("containers", []))]
    if len(engines) != 1:
        ctx.problem("namespace %s: %d workloads run the engine, expected 1" % (ns, len(engines)))
        return
    (kind, _, _), (file_name, doc) = engines[0]
    ew = where(file_name, doc)
    spec = doc["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    container = next(c for c in pod["containers"] if (c.get("command") or [None])[0] == "hollowtrees")
    args = container.get("args", [])
    replicas = spec.get("replicas", 1)
    before = len(ctx.problems)

    terms = (((pod.get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    if not terms or any(not ANTI_SPOT <= {(e.get("key"), e.get("operator"), tuple(e.get("values") or ()))
                                          for e in t.get("matchExpressions", [])} for t in terms):
        ctx.problem("%s: the engine may land on spot capacity: every term of its required node affinity "
                    "needs %s" % (ew, sorted(ANTI_SPOT)))

    data_dir = (flag_value(args, "data-dir") or rules.get("data_dir") or "").rstrip("/")
    mount = next((m for m in container.get("volumeMounts", []) if m["mountPath"].rstrip("/") == data_dir), None)
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}

    if "ha" not in rules:
        if replicas != 1:
            ctx.problem("%s: %s replicas without rules.yaml ha: each would act on every alert "
                        "(two drains, two detaches)" % (ew, replicas))
        if not mount or mount["name"] not in claims:
            ctx.problem("%s: without ha: the journal (data_dir %s) needs a volume claim that follows the pod" %
                        (ew, data_dir or "?"))
        if len(ctx.problems) == before:
            ctx.ok("%s: one replica, journal on a volume claim, off spot capacity" % ew)
        return

    ha = rules.get("ha") or {}
    ha_ns = ha.get("namespace", "hollowtrees")
    if kind != "StatefulSet":
        ctx.problem("%s: the high availability mode names each replica's inbox after its pod: it needs the "
                    "stable names of a StatefulSet, not a %s" % (ew, kind))
    if replicas < 2:
        ctx.problem("%s: rules.yaml has ha: but %s replica (nothing to take over)" % (ew, replicas))
    if ha_ns != ns:
        ctx.problem("%s: ha.namespace %r is not the engine's namespace %s" % (ew, ha_ns, ns))
    if not ha.get("identity") and not any(
            e.get("name") == "POD_NAME" and
            (e.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") == "metadata.name"
            for e in container.get("env", [])):
        ctx.problem("%s: ha.identity is empty and POD_NAME is not taken from metadata.name" % ew)

    sa = pod.get("serviceAccountName")
    if not ha.get("kubeconfig"):
        if not sa or sa == "default":
            ctx.problem("%s: ha: in-cluster needs a ServiceAccount of the engine's own (serviceAccountName)" % ew)
        sa_doc = objects.get(("ServiceAccount", ns, sa), (None, {}))[1]
        mount_token = pod.get("automountServiceAccountToken")
        if mount_token is False or (mount_token is None and sa_doc.get("automountServiceAccountToken") is False):
            ctx.problem("%s: ha: in-cluster needs the ServiceAccount's token mounted" % ew)
    granted = {}
    for (kind_b, ns_b, name_b), (file_b, binding) in sorted(objects.items(), key=str):
        if kind_b not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa and s.get("namespace") == ns
                   for s in binding.get("subjects", [])):
            continue
        bw = where(file_b, binding)
        if kind_b == "ClusterRoleBinding" or binding["roleRef"]["kind"] != "Role":
            ctx.problem("%s: grants the engine's ServiceAccount a ClusterRole; its grants are a Role of "
                        "ha.namespace, nothing cluster-wide" % bw)
            continue
        if ns_b != ha_ns:
            ctx.problem("%s: in %s, not in ha.namespace %s" % (bw, ns_b, ha_ns))
        role = objects.get(("Role", ns_b, binding["roleRef"]["name"]))
        if role:
            for key, verbs in rbac_grants(role[1]).items():
                granted.setdefault(key, set()).update(verbs)
    for (group, res), verbs in granted.items():
        if "*" in (group, res) or "*" in verbs:
            ctx.problem("%s: the engine's Role has a wildcard in %s %s %s" % (ew, group, res, sorted(verbs)))
    if granted != ENGINE_HA_RBAC:
        ctx.problem("%s: the engine's ServiceAccount %s is granted %s in %s, expected exactly %s" %
                    (ew, sa, sorted((k, sorted(v)) for k, v in granted.items()), ha_ns,
                     sorted((k, sorted(v)) for k, v in ENGINE_HA_RBAC.items())))

    if claims:
        ctx.problem("%s: with ha: the state is in the Kubernetes API; no volumeClaimTemplates (%s)" %
                    (ew, sorted(claims)))
    if not mount or "emptyDir" not in volumes.get(mount["name"], {}):
        ctx.problem("%s: with ha: data_dir %s holds only the engine's lock: an emptyDir" % (ew, data_dir or "?"))

    pdbs = [(f, d) for (k, pns, _), (f, d) in objects.items()
            if k == "PodDisruptionBudget" and pns == ns and selects(d["spec"].get("selector"), labels)]
    if len(pdbs) != 1:
        ctx.problem("%s: %d PodDisruptionBudgets select the engine's pods, expected 1" % (ew, len(pdbs)))
    else:
        allowed = disruptions_allowed(pdbs[0][1]["spec"], replicas)
        if not 1 <= allowed < replicas:
            ctx.problem("%s: lets %d of the engine's %s replicas be evicted at once; expected at least 1 and "
                        "fewer than all" % (where(*pdbs[0]), allowed, replicas))

    spread = {c.get("topologyKey") for c in pod.get("topologySpreadConstraints", [])
              if selects(c.get("labelSelector"), labels)}
    for key in ENGINE_SPREAD_KEYS:
        if key not in spread:
            ctx.problem("%s: no topologySpreadConstraint over %s selecting the engine's pods" % (ew, key))

    grace = go_seconds(flag_value(args, "shutdown-grace") or "")
    period = pod.get("terminationGracePeriodSeconds", 30)
    if grace is None or period < grace + 10:
        ctx.problem("%s: terminationGracePeriodSeconds %s leaves under 10 s after --shutdown-grace %s for the "
                    "leader to save the flows' state and release the Lease" %
                    (ew, period, flag_value(args, "shutdown-grace")))

    if len(ctx.problems) == before:
        ctx.ok("%s: high availability, %s replicas: StatefulSet, ha.namespace %s, POD_NAME, Role exactly %s, "
               "nothing cluster-wide, data_dir on an emptyDir, PodDisruptionBudget, spread over %s, "
               "off spot capacity" % (ew, replicas, ha_ns,
                                      "; ".join("%s %s" % (r, ",".join(sorted(v)))
                                                for (_, r), v in sorted(ENGINE_HA_RBAC.items())),
                                      " and ".join(ENGINE_SPREAD_KEYS)))
