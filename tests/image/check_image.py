"""The container image: built from this checkout, inspected, and run.

  python3 check_image.py SOURCE_DIR BUILD_DIR

1. Builds it with scripts/build-images.sh (HT_BUILD_DIR=BUILD_DIR), which
   writes BUILD_DIR/images/hollowtrees-<version>.oci.tar.
2. Reads the archive back (skopeo inspect, and the layer's file list with
   Python's tarfile): labels (version = CMake's project version, revision =
   this checkout's commit, source, licenses), the non-root user, the command;
   no shell and no package manager; the shared libraries in it are exactly
   the ones the six daemons load (ldd on the host), and the loader and CA
   bundle are there.
3. Loads the archive into podman and runs it, as the Kubernetes manifests do
   (read-only root file system, every capability dropped, no new
   privileges, /tmp a tmpfs, the data directory a volume owned by 65532), on
   the host network on loopback: every daemon answers --version (so no
   library is missing); the log plugin and the engine serve; an alert posted
   to the engine completes its flow through the plugin; both processes run
   as uid 65532; SIGTERM stops the engine cleanly.

podman here needs the runc runtime and lower ulimits than its defaults
(docs/development.md): tests/image/containers.conf, through CONTAINERS_CONF.
Figures printed for the record: image size (archive, unpacked) and the time
from `podman run` to the engine's /readyz answering 200.
"""

import json
import os
import subprocess
import sys
import tarfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e", "prometheus"))

from harness import (  # noqa: E402
    NotYet, TestFailure, expect, http_get, http_get_ok, http_post_json, poll, read_records,
    run_tests)

SOURCE_DIR = os.path.abspath(sys.argv[1])
BUILD_DIR = os.path.abspath(sys.argv[2])
# Each daemon, and a flag its --helpfull must list.
DAEMON_FLAGS = {"hollowtrees": "--config", "ht-log-action-plugin": "--record_file",
                "ht-k8s-action-plugin": "--kubeconfig_dir", "ht-aws-asg-action-plugin": "--region",
                "spot-termination-exporter": "--metadata_endpoint",
                "spot-config-webhook": "--tls_cert_file"}
DAEMONS = list(DAEMON_FLAGS)
UID = 65532
PODMAN_ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(HERE, "containers.conf"))
# Every container this run starts has this prefix in its name, so that the
# cleanup removes exactly those.
RUN_ID = f"ht-image-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run(argv, what, timeout=120, env=None):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       env=env or PODMAN_ENV)
    expect(r.returncode == 0, f"{what}: {' '.join(argv)} exited {r.returncode}:\n"
                              f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
    return r.stdout


def cmake_version():
    with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith("CMAKE_PROJECT_VERSION:STATIC="):
                return line.split("=", 1)[1].strip()
    raise TestFailure(f"no CMAKE_PROJECT_VERSION in {BUILD_DIR}/CMakeCache.txt")


VERSION = cmake_version()
IMAGE = f"localhost/hollowtrees:{VERSION}"
ARCHIVE = os.path.join(BUILD_DIR, "images", f"hollowtrees-{VERSION}.oci.tar")


class Image:
    """What the archive says about itself, read once."""
    built = False
    config = None
    files = None  # path (no leading "./") -> tarfile.TarInfo


def build_and_read():
    if Image.built:
        return
    started = time.monotonic()
    r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "build-images.sh")],
                       capture_output=True, text=True, timeout=1500,
                       env=dict(os.environ, HT_BUILD_DIR=BUILD_DIR), cwd=SOURCE_DIR)
    expect(r.returncode == 0, f"scripts/build-images.sh exited {r.returncode}:\n"
                              f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
    print(f"  built in {time.monotonic() - started:.1f}s: {r.stdout.strip().splitlines()[-1]}")
    expect(os.path.isfile(ARCHIVE), f"{ARCHIVE} was not written")
    Image.config = json.loads(run(["skopeo", "inspect", "--config", f"oci-archive:{ARCHIVE}"],
                                  "skopeo inspect --config"))
    Image.files = {}
    unpacked = 0
    with tarfile.open(ARCHIVE) as outer:
        def blob(digest):
            return outer.extractfile("blobs/sha256/" + digest.split(":", 1)[1])
        index = json.load(outer.extractfile("index.json"))
        expect(len(index["manifests"]) == 1, f"index.json: {index}")
        manifest = json.load(blob(index["manifests"][0]["digest"]))
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=blob(layer["digest"]), mode="r:*") as t:
                for member in t.getmembers():
                    name = member.name[2:] if member.name.startswith("./") else member.name
                    Image.files[name.rstrip("/")] = member
                    unpacked += member.size
    print(f"  image size: {os.path.getsize(ARCHIVE) / 1e6:.1f} MB archive (compressed), "
          f"{unpacked / 1e6:.1f} MB unpacked, {len(Image.files)} files")
    run(["podman", "load", "--quiet", "--input", ARCHIVE], "podman load", timeout=300)
    Image.built = True


def host_libraries():
    """Basenames of every shared library (and the loader) the daemons load."""
    names = set()
    for d in DAEMONS:
        out = run(["ldd", os.path.join(BUILD_DIR, "bin", d)], f"ldd {d}", env=os.environ)
        for line in out.splitlines():
            line = line.strip()
            if "=>" in line:
                path = line.split("=>", 1)[1].split("(")[0].strip()
                names.add(os.path.basename(path))
            elif line.startswith("/"):
                names.add(os.path.basename(line.split()[0]))
    return names


# ---------------------------------------------------------------------------
# The archive, read back


def test_labels_user_and_command(stack):
    build_and_read()
    config = Image.config["config"]
    labels = config.get("Labels") or {}
    expect(labels.get("org.opencontainers.image.version") == VERSION,
           f"version label {labels.get('org.opencontainers.image.version')!r}, want {VERSION!r}")
    head = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    revision = labels.get("org.opencontainers.image.revision", "")
    expect(head and revision.split("-dirty")[0] == head,
           f"revision label {revision!r}, want this checkout's commit {head!r}")
    for key in ("source", "licenses", "created", "title", "description"):
        expect(labels.get(f"org.opencontainers.image.{key}"),
               f"label org.opencontainers.image.{key} missing: {labels}")
    expect(labels["org.opencontainers.image.source"].startswith("https://"),
           f"source label is not a URL: {labels['org.opencontainers.image.source']!r}")
    expect(config.get("User") == f"{UID}:{UID}", f"image user {config.get('User')!r}")
    expect(config.get("Cmd", [None])[0] == "hollowtrees", f"image command {config.get('Cmd')}")
    expect(Image.config.get("architecture") == "amd64" and Image.config.get("os") == "linux",
           f"platform {Image.config.get('os')}/{Image.config.get('architecture')}")


def test_contents_are_exactly_what_the_daemons_need(stack):
    build_and_read()
    files = Image.files
    for d in DAEMONS:
        member = files.get(f"usr/local/bin/{d}")
        expect(member is not None and member.isfile() and member.mode & 0o111,
               f"/usr/local/bin/{d} missing or not executable")
    for banned in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/bash", "usr/bin/apt",
                   "usr/bin/apt-get", "usr/bin/dpkg", "sbin/apk", "usr/bin/busybox"):
        expect(banned not in files, f"the image has /{banned}")
    expect(not any(n.startswith("var/lib/dpkg") or n.startswith("var/lib/apt") for n in files),
           "the image has a package database")
    in_image = {os.path.basename(n) for n, m in files.items()
                if (".so" in os.path.basename(n)) and m.isfile()}
    wanted = host_libraries()
    missing = sorted(wanted - in_image)
    extra = sorted(in_image - wanted)
    expect(not missing, f"libraries the daemons load but the image lacks: {missing}")
    expect(not extra, f"libraries in the image that no daemon loads: {extra}")
    expect(files.get("lib64", None) is not None and files["lib64"].issym(),
           "/lib64 is not a link (the loader's path, /lib64/ld-linux-x86-64.so.2)")
    expect("usr/lib64/ld-linux-x86-64.so.2" in files, "the dynamic loader is missing")
    ca = files.get("etc/ssl/certs/ca-certificates.crt")
    expect(ca is not None and ca.size > 10000, "the CA bundle is missing or empty")
    data = files.get("var/lib/hollowtrees")
    expect(data is not None and data.isdir() and data.uid == UID and data.gid == UID,
           f"/var/lib/hollowtrees not a directory owned by {UID}")
    tmp = files.get("tmp")
    expect(tmp is not None and tmp.mode & 0o1777 == 0o1777, "/tmp is not mode 1777")
    expect(any(n.startswith("usr/share/doc/") and n.endswith("/copyright") for n in files),
           "no copyright files for the libraries")
    for n, m in files.items():
        expect(m.uid in (0, UID), f"/{n} owned by uid {m.uid}")


# ---------------------------------------------------------------------------
# The image, run


def podman_run_args(name, *, network="host", read_only=True):
    args = ["podman", "run", "--rm", "--name", name, f"--network={network}",
            "--cap-drop=ALL", "--security-opt=no-new-privileges"]
    if read_only:
        args += ["--read-only", "--tmpfs=/tmp:rw,mode=1777"]
    return args


def remove_our_containers():
    out = subprocess.run(["podman", "ps", "-a", "--filter", f"name={RUN_ID}", "--format",
                          "{{.ID}}"], capture_output=True, text=True, env=PODMAN_ENV,
                         timeout=60).stdout.split()
    if out:
        subprocess.run(["podman", "rm", "-f", "-t", "5", *out], capture_output=True,
                       env=PODMAN_ENV, timeout=120)


def container_uid(name):
    pid = run(["podman", "inspect", "--format", "{{.State.Pid}}", name], "podman inspect").strip()
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise TestFailure(f"no Uid line for pid {pid}")


def test_every_daemon_starts_in_the_image(stack):
    build_and_read()
    for d, flag in DAEMON_FLAGS.items():
        name = f"{RUN_ID}-{d}-version"
        out = run(podman_run_args(name, network="none") + [IMAGE, d, "--version"],
                  f"{d} --version in the image", timeout=120)
        expect(out.strip() == f"{d} {VERSION}", f"{d} --version in the image said {out!r}")
        r = subprocess.run(podman_run_args(name, network="none") + [IMAGE, d, "--helpfull"],
                           capture_output=True, text=True, env=PODMAN_ENV, timeout=120)
        expect(flag in r.stdout + r.stderr,
               f"{d} --helpfull in the image does not list {flag}: {r.stdout[-500:]}"
               f"{r.stderr[-500:]}")
    r = subprocess.run(podman_run_args(f"{RUN_ID}-sh", network="none") +
                       [IMAGE, "/bin/sh", "-c", "true"],
                       capture_output=True, text=True, env=PODMAN_ENV, timeout=120)
    expect(r.returncode != 0, "a shell ran in the image")


def test_alert_completes_its_flow_in_containers(stack):
    build_and_read()
    work = stack.workdir
    records = os.path.join(work, "records")
    data = os.path.join(work, "data")
    config_dir = os.path.join(work, "config")
    for d in (records, data, config_dir):
        os.makedirs(d)
    os.chown(records, UID, UID)
    os.chown(data, UID, UID)

    plugin_name = f"{RUN_ID}-log"
    plugin = stack.start("log-plugin", podman_run_args(plugin_name) + [
        "-v", f"{records}:/records", IMAGE,
        "ht-log-action-plugin", "--listen", "127.0.0.1:0",
        "--record-file", "/records/calls.jsonl"], env=PODMAN_ENV)
    plugin_port = plugin.wait_for_port(timeout=60)

    with open(os.path.join(config_dir, "rules.yaml"), "w") as f:
        f.write(f"""
action_plugins:
  - name: "ht-log-action-plugin"
    address: "127.0.0.1:{plugin_port}"
    timeout: 10s
rules:
  - name: "drain_k8s_spot_instance"
    event_type: "prometheus.server.alert.SpotTerminationNotice"
    match:
      - cluster_name: "test-cluster"
    action_plugins:
      - "ht-log-action-plugin"
""")
    engine_name = f"{RUN_ID}-engine"
    started = time.monotonic()
    engine = stack.start("engine", podman_run_args(engine_name) + [
        "-v", f"{config_dir}:/etc/hollowtrees:ro", "-v", f"{data}:/var/lib/hollowtrees",
        IMAGE, "hollowtrees", "--config=/etc/hollowtrees/rules.yaml",
        "--data-dir=/var/lib/hollowtrees", "--listen=127.0.0.1:0"], env=PODMAN_ENV)
    port = engine.wait_for_port(timeout=60)
    url = f"http://127.0.0.1:{port}"

    def ready():
        status, _ = http_get(url + "/readyz", timeout=1.0)
        return status == 200
    poll(ready, 60, "the engine's /readyz in the container", interval=0.01)
    print(f"  podman run to /readyz answering 200: {time.monotonic() - started:.2f}s")

    expect(container_uid(engine_name)[0] == UID, f"engine uid {container_uid(engine_name)}")
    expect(container_uid(plugin_name)[0] == UID, f"plugin uid {container_uid(plugin_name)}")

    status, body = http_post_json(url + "/api/v2/alerts", [{
        "labels": {"alertname": "SpotTerminationNotice", "cluster_name": "test-cluster",
                   "instance_id": "i-0image"}}])
    expect(status == 200, f"POST /api/v2/alerts: {status} {body}")

    def succeeded():
        flows = json.loads(http_get_ok(url + "/api/v1/flows"))["flows"]
        if not flows or flows[0]["state"] != "succeeded":
            raise NotYet(json.dumps(flows)[:500])
        return flows[0]
    flow = poll(succeeded, 30, "the flow to succeed")
    calls = read_records(os.path.join(records, "calls.jsonl"))
    expect(len(calls) == 1, f"the plugin recorded {len(calls)} calls: {calls}")
    expect(calls[0].get("flow_id") == flow["id"], f"call {calls[0]} is not flow {flow['id']}")
    expect(os.path.exists(os.path.join(data, "journal.db")),
           "the engine wrote no journal into its data volume")

    code = stack.stop(engine)
    expect(code == 0, f"the engine in its container exited {code} on SIGTERM, want 0:\n"
                      f"{engine.tail()}")


def main():
    try:
        return run_tests([test_labels_user_and_command,
                          test_contents_are_exactly_what_the_daemons_need,
                          test_every_daemon_starts_in_the_image,
                          test_alert_completes_its_flow_in_containers],
                         prefix="ht-image")
    finally:
        remove_our_containers()


if __name__ == "__main__":
    sys.exit(main())
