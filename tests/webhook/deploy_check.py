#!/usr/bin/env python3
"""Checks deploy/webhook/*.yaml for consistency with each other and with the
spot-config-webhook binary (kubectl --dry-run=client needs an API server for
discovery, which this machine does not have; see docs/webhook.md).

Usage: deploy_check.py SOURCE_DIR BINARY
Exit 0 when every check holds; otherwise one line per problem, exit 1.
"""
import glob
import os
import re
import subprocess
import sys

import yaml

NAMESPACED = {"Deployment", "Service", "ConfigMap", "ServiceAccount", "Role", "RoleBinding",
              "PodDisruptionBudget", "Issuer", "Certificate", "Secret"}


def main():
    src, binary = sys.argv[1], sys.argv[2]
    problems = []
    docs = []
    for path in sorted(glob.glob(os.path.join(src, "deploy/webhook/*.yaml"))):
        if os.path.basename(path) == "kustomization.yaml":  # not an object
            continue
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    docs.append((os.path.basename(path), doc))
    if not docs:
        problems.append("no manifests found")

    def where(name, doc):
        return "%s: %s %s" % (name, doc.get("kind"), (doc.get("metadata") or {}).get("name"))

    by_kind = {}
    for name, doc in docs:
        for field in ("apiVersion", "kind", "metadata"):
            if field not in doc:
                problems.append("%s: no %s" % (name, field))
        md = doc.get("metadata") or {}
        if not md.get("name"):
            problems.append("%s: no metadata.name" % where(name, doc))
        if doc.get("kind") in NAMESPACED and not md.get("namespace") and doc.get("kind") != "Namespace":
            problems.append("%s: namespaced kind without metadata.namespace" % where(name, doc))
        by_kind.setdefault(doc.get("kind"), []).append((name, doc))

    # Flags the binary knows.
    helpfull = subprocess.run([binary, "--helpfull"], capture_output=True, text=True)
    known = set(re.findall(r"--([a-z_]+)", helpfull.stdout + helpfull.stderr))
    if "tls_cert_file" not in known:
        problems.append("cannot read the flags of %s" % binary)

    containers = {}
    for name, doc in by_kind.get("Deployment", []):
        spec = doc["spec"]["template"]["spec"]
        labels = doc["spec"]["template"]["metadata"]["labels"]
        if doc["spec"]["selector"]["matchLabels"].items() - labels.items():
            problems.append("%s: selector does not match the pod labels" % where(name, doc))
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        for c in spec["containers"]:
            containers[(doc["metadata"]["name"], c["name"])] = (doc, c)
            for m in c.get("volumeMounts", []):
                if m["name"] not in {v["name"] for v in spec.get("volumes", [])}:
                    problems.append("%s: mount %s has no volume" % (where(name, doc), m["name"]))
            if c.get("command", [""])[0] == "spot-config-webhook":
                for arg in c.get("args", []):
                    flag = arg.split("=", 1)[0].lstrip("-").replace("-", "_")
                    if flag not in known:
                        problems.append("%s: container %s: unknown flag %s" % (where(name, doc), c["name"], arg))
        if "spot-config-webhook-tls" not in secrets.values():
            problems.append("%s: does not mount the TLS Secret" % where(name, doc))
        sa = spec.get("serviceAccountName")
        if sa not in {d["metadata"]["name"] for _, d in by_kind.get("ServiceAccount", [])}:
            problems.append("%s: service account %s not defined" % (where(name, doc), sa))

    def arg(container, flag):
        for a in container.get("args", []):
            if a.startswith("--" + flag + "="):
                return a.split("=", 1)[1]
        return None

    webhook = containers.get(("spot-config-webhook", "webhook"))
    sidecar = containers.get(("spot-scheduler", "extender"))
    if webhook is None or sidecar is None:
        problems.append("missing the webhook Deployment or the scheduler's extender sidecar")
    else:
        if arg(webhook[1], "serve") != "admission" or arg(sidecar[1], "serve") != "extender":
            problems.append("the webhook should serve admission, the sidecar the extender")

    # Webhook configuration.
    for name, doc in by_kind.get("MutatingWebhookConfiguration", []):
        for wh in doc["webhooks"]:
            w = "%s webhook %s" % (where(name, doc), wh["name"])
            if wh.get("failurePolicy") != "Ignore":
                problems.append("%s: failurePolicy must be Ignore" % w)
            if wh.get("sideEffects") not in ("None", "NoneOnDryRun"):
                problems.append("%s: sideEffects must be None or NoneOnDryRun" % w)
            if set(wh.get("admissionReviewVersions", [])) != {"v1", "v1beta1"}:
                problems.append("%s: admissionReviewVersions must be v1 and v1beta1" % w)
            if "objectSelector" not in wh or "namespaceSelector" not in wh:
                problems.append("%s: needs objectSelector and namespaceSelector" % w)
            svc = wh["clientConfig"]["service"]
            if svc.get("path") != "/mutate":
                problems.append("%s: path must be /mutate" % w)
            services = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for _, d in by_kind.get("Service", [])}
            target = services.get((svc["namespace"], svc["name"]))
            if target is None:
                problems.append("%s: service %s/%s not defined" % (w, svc["namespace"], svc["name"]))
            elif svc.get("port", 443) not in [p["port"] for p in target["spec"]["ports"]]:
                problems.append("%s: service port %s not exposed" % (w, svc.get("port", 443)))
            resources = {r for rule in wh["rules"] for r in rule["resources"]}
            if resources != {"deployments", "statefulsets", "replicasets"}:
                problems.append("%s: rules must cover deployments, statefulsets, replicasets" % w)

    # The second scheduler.
    for name, doc in by_kind.get("ConfigMap", []):
        if doc["metadata"]["name"] != "spot-scheduler-config":
            continue
        cfg = yaml.safe_load(doc["data"]["config.yaml"])
        if cfg.get("kind") != "KubeSchedulerConfiguration" or cfg.get("apiVersion") != "kubescheduler.config.k8s.io/v1":
            problems.append("%s: not a kubescheduler.config.k8s.io/v1 KubeSchedulerConfiguration" % name)
        names = [p.get("schedulerName") for p in cfg.get("profiles", [])]
        if webhook and names != [arg(webhook[1], "scheduler_name") or arg(webhook[1], "scheduler-name")]:
            problems.append("%s: the profile %s is not the webhook's --scheduler-name" % (name, names))
        ext = cfg.get("extenders", [{}])[0]
        if ext.get("filterVerb") != "filter" or ext.get("prioritizeVerb") != "prioritize":
            problems.append("%s: extender verbs must be filter and prioritize" % name)
        if not ext.get("enableHTTPS"):
            problems.append("%s: the extender is HTTPS" % name)
        if sidecar and not ext.get("urlPrefix", "").endswith(arg(sidecar[1], "listen") or "?"):
            problems.append("%s: urlPrefix %s is not the sidecar's --listen" % (name, ext.get("urlPrefix")))
        allowed = set(["urlPrefix", "filterVerb", "preemptVerb", "prioritizeVerb", "weight", "bindVerb",
                       "enableHTTPS", "tlsConfig", "httpTimeout", "nodeCacheCapable", "managedResources",
                       "ignorable"])
        if set(ext) - allowed:
            problems.append("%s: unknown extender fields %s" % (name, sorted(set(ext) - allowed)))

    # RBAC references.
    roles = {(d["metadata"].get("namespace"), d["metadata"]["name"]) for _, d in by_kind.get("Role", [])}
    croles = {d["metadata"]["name"] for _, d in by_kind.get("ClusterRole", [])}
    sas = {(d["metadata"]["namespace"], d["metadata"]["name"]) for _, d in by_kind.get("ServiceAccount", [])}
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for name, doc in by_kind.get(kind, []):
            ref = doc["roleRef"]
            if ref["kind"] == "Role" and (doc["metadata"]["namespace"], ref["name"]) not in roles \
                    and not ref["name"].startswith("extension-apiserver"):
                problems.append("%s: Role %s not defined" % (where(name, doc), ref["name"]))
            if ref["kind"] == "ClusterRole" and ref["name"] not in croles and not ref["name"].startswith("system:"):
                problems.append("%s: ClusterRole %s not defined" % (where(name, doc), ref["name"]))
            for s in doc["subjects"]:
                if s["kind"] == "ServiceAccount" and (s["namespace"], s["name"]) not in sas:
                    problems.append("%s: service account %s/%s not defined" % (where(name, doc), s["namespace"], s["name"]))

    for p in problems:
        print(p)
    if not problems:
        print("deploy/webhook: %d objects checked" % len(docs))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
