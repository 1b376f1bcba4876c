"""Shared helpers for the end-to-end tests with the real Prometheus and
Alertmanager (Python 3 standard library only).

What is here:
  - Process: a program started with its output in a file, a bounded wait for
    a line matching a regex, and a stop of exactly that PID (SIGTERM, bounded
    wait, then SIGKILL).
  - Stack: owns every process a test starts and stops them all, newest first,
    whatever happens in the test.
  - http_request / poll: HTTP on loopback with timeouts; polling a condition
    with a deadline (the only way tests wait for anything).
  - parse_metrics / metric_sum: the Prometheus text exposition, read back.
  - start_* helpers for our binaries and the two Prometheus servers; each
    server binds 127.0.0.1 port 0 and the helper reads back the chosen port
    from the server's log, so no port is ever guessed.
  - run_tests: runs test functions, prints `N passed, M failed`, and gives the
    exit code.

Environment (set by ht_script_test in CMake): HT_BIN_DIR (our binaries),
HT_SOURCE_DIR (the source tree). PROMETHEUS, PROMTOOL, ALERTMANAGER and
AMTOOL override the paths of the Debian binaries.
"""

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

BIN_DIR = os.environ.get("HT_BIN_DIR", os.path.join(os.getcwd(), "bin"))
SOURCE_DIR = os.environ.get("HT_SOURCE_DIR", os.getcwd())
PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("PROMTOOL", "/usr/bin/promtool")
ALERTMANAGER = os.environ.get("ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
AMTOOL = os.environ.get("AMTOOL", "/usr/bin/amtool")

# Default bounds. Every wait in these tests has one of these (or a smaller)
# deadline; nothing sleeps a fixed time to synchronise.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 5.0

# The line our daemons (engine, plugins) log once they serve.
OUR_LISTEN_RE = r"listening on 127\.0\.0\.1:(\d+)"
# The line Prometheus and Alertmanager (exporter-toolkit) log once bound.
TOOLKIT_LISTEN_RE = r'msg="Listening on" address=127\.0\.0\.1:(\d+)'


class TestFailure(AssertionError):
    pass


def expect(condition, message):
    """Fails the current test with `message` when `condition` is false."""
    if not condition:
        raise TestFailure(message)


def binary(name):
    path = os.path.join(BIN_DIR, name)
    expect(os.access(path, os.X_OK), f"{path} is not built (HT_BIN_DIR={BIN_DIR})")
    return path


class Process:
    """One started program. Its stdout and stderr go to `<dir>/<name>.log`."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = os.path.join(workdir, f"{name}.log")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=workdir, env=full_env)
        self.pid = self.proc.pid

    def output(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def tail(self, lines=40):
        return "\n".join(self.output().splitlines()[-lines:])

    def running(self):
        return self.proc.poll() is None

    def wait_for(self, regex, timeout=START_TIMEOUT):
        """Polls the output until a line matches `regex`; returns the match.
        Fails when the process exits first or the deadline passes."""
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            for line in self.output().splitlines():
                m = pattern.search(line)
                if m:
                    return m
            if not self.running():
                raise TestFailure(
                    f"{self.name} exited with code {self.proc.returncode} before printing "
                    f"/{regex}/; output:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TestFailure(
                    f"{self.name} printed no line matching /{regex}/ within {timeout}s; "
                    f"output:\n{self.tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def wait_for_port(self, regex=OUR_LISTEN_RE, timeout=START_TIMEOUT):
        return int(self.wait_for(regex, timeout).group(1))

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM to this PID, wait up to `timeout`, then SIGKILL. Returns the
        exit code (negative signal number when killed by a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self._log.close()
        return self.proc.returncode


class Stack:
    """The processes of one test. stop_all() stops them newest first; it runs
    even when the test fails (use it as a context manager)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.processes = []
        self.exit_codes = {}

    def start(self, name, argv, env=None):
        p = Process(name, argv, self.workdir, env)
        self.processes.append(p)
        return p

    def stop(self, process, timeout=STOP_TIMEOUT):
        code = process.stop(timeout)
        self.exit_codes[process.name] = code
        if process in self.processes:
            self.processes.remove(process)
        return code

    def stop_all(self):
        while self.processes:
            self.stop(self.processes[-1])

    def logs(self, lines=30):
        parts = []
        for p in self.processes:
            parts.append(f"--- {p.name} (pid {p.pid}) {p.log_path}\n{p.tail(lines)}")
        return "\n".join(parts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop_all()
        return False


# ---------------------------------------------------------------------------
# HTTP and polling


def http_request(method, url, body=None, headers=None, timeout=HTTP_TIMEOUT):
    """Returns (status, body text). Non-2xx answers are returned, not raised;
    connection errors raise OSError."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else body.encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def http_get(url, timeout=HTTP_TIMEOUT):
    return http_request("GET", url, timeout=timeout)


def http_get_ok(url, timeout=HTTP_TIMEOUT):
    status, body = http_get(url, timeout)
    expect(status == 200, f"GET {url}: status {status}, body {body[:500]!r}")
    return body


def http_post_json(url, value, timeout=HTTP_TIMEOUT):
    return http_request("POST", url, json.dumps(value), {"Content-Type": "application/json"},
                        timeout)


class NotYet(Exception):
    """Raised by a poll() condition that does not hold yet; its message is
    the state seen, reported if the deadline passes."""


def poll(fn, timeout, what, interval=0.05):
    """Calls fn() until it returns a truthy value, which it returns; fn may
    also raise NotYet(state). Fails naming `what` and the last state after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except NotYet as e:
            last = str(e)
        except OSError as e:  # connection refused/reset while a server starts
            last = f"error: {e}"
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def wait_http_ok(url, timeout=START_TIMEOUT, what=None):
    def ok():
        status, _ = http_get(url, timeout=1.0)
        return status == 200
    poll(ok, timeout, what or f"GET {url} to answer 200", interval=0.05)


class GaugeServer:
    """A scrape target for Prometheus: serves /metrics with one gauge whose
    value the test sets (e.g. to make an alert fire, then resolve). Binds
    127.0.0.1 port 0; use as a context manager so its thread always stops."""

    def __init__(self, name, value=0):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = (f"# HELP {name} set by the test\n# TYPE {name} gauge\n"
                        f"{name} {owner.value}\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.value = value
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        return False


# ---------------------------------------------------------------------------
# Prometheus text exposition


_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """Returns [(name, {label: value}, float)] for every sample line."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line.strip())
        if not m:
            raise TestFailure(f"unparseable exposition line: {line!r}")
        labels = {}
        if m.group(2):
            for lm in _LABEL_RE.finditer(m.group(2)):
                labels[lm.group(1)] = (lm.group(2).replace('\\"', '"').replace("\\n", "\n")
                                       .replace("\\\\", "\\"))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def metric_sum(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels` (0 when
    there is none)."""
    total = 0.0
    for n, ls, v in samples:
        if n == name and all(ls.get(k) == want for k, want in labels.items()):
            total += v
    return total


def scrape(url):
    return parse_metrics(http_get_ok(url))


# ---------------------------------------------------------------------------
# Our binaries


def read_records(path):
    """The JSON lines a log plugin appended to its --record-file."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            # The plugin appends whole lines; one without its newline is being
            # written right now and is read on the next poll.
            if line.endswith("\n") and line.strip():
                records.append(json.loads(line))
    return records


class LogPlugin:
    def __init__(self, process, port, record_file):
        self.process = process
        self.port = port
        self.record_file = record_file
        self.address = f"127.0.0.1:{port}"

    def records(self):
        return read_records(self.record_file)


def start_log_plugin(stack, name, extra_args=()):
    record = os.path.join(stack.workdir, f"{name}.calls.jsonl")
    p = stack.start(name, [binary("ht-log-action-plugin"), "--listen", "127.0.0.1:0",
                           "--record-file", record, *extra_args])
    return LogPlugin(p, p.wait_for_port(), record)


def check_engine_config(path):
    """`hollowtrees check-config FILE` must accept the file."""
    r = subprocess.run([binary("hollowtrees"), "check-config", path], capture_output=True,
                       text=True, timeout=30)
    expect(r.returncode == 0, f"hollowtrees check-config {path} exited {r.returncode}:\n"
                              f"{r.stdout}{r.stderr}")


class Engine:
    def __init__(self, process, port, config_path, data_dir):
        self.process = process
        self.port = port
        self.config_path = config_path
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{port}"

    def metrics(self):
        return scrape(self.url + "/metrics")


def start_engine(stack, config_text, name="hollowtrees", env=None):
    """Writes the config, has `hollowtrees check-config` accept it, starts the
    engine on 127.0.0.1:0 with a fresh data dir (and `env` added to its
    environment), waits for /readyz."""
    path = os.path.join(stack.workdir, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(config_text)
    check_engine_config(path)
    data_dir = os.path.join(stack.workdir, f"{name}-data")
    os.makedirs(data_dir, exist_ok=True)
    return _run_engine(stack, name, path, data_dir, "127.0.0.1:0", env)


def restart_engine(stack, engine, name):
    """Stops `engine` (SIGTERM; it must exit 0) and starts it again with the
    same config, data dir and port, as a process named `name`."""
    code = stack.stop(engine.process)
    expect(code == 0, f"{engine.process.name} exited {code} on SIGTERM, want 0")
    return _run_engine(stack, name, engine.config_path, engine.data_dir,
                       f"127.0.0.1:{engine.port}")


def _run_engine(stack, name, config_path, data_dir, listen, env=None):
    p = stack.start(name, [binary("hollowtrees"), "--config", config_path, "--listen", listen,
                           "--data-dir", data_dir, "--log-level", "debug"], env=env)
    engine = Engine(p, p.wait_for_port(), config_path, data_dir)
    wait_http_ok(engine.url + "/readyz", what="the engine's /readyz")
    return engine


# ---------------------------------------------------------------------------
# Prometheus and Alertmanager


def run_tool(argv, what):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    expect(r.returncode == 0, f"{what}: {' '.join(argv)} exited {r.returncode}:\n"
                              f"{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


class Server:
    def __init__(self, process, port):
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def metrics(self):
        return scrape(self.url + "/metrics")


def start_prometheus(stack, config_text, rules_text, external_url="http://prometheus.e2e.test/"):
    """Writes prometheus.yml (which must list rules.yml under rule_files) and
    rules.yml, has promtool check both, starts Prometheus on 127.0.0.1:0 and
    waits until it is ready."""
    expect(os.access(PROMETHEUS, os.X_OK), f"{PROMETHEUS} missing (Debian package prometheus)")
    config = os.path.join(stack.workdir, "prometheus.yml")
    rules = os.path.join(stack.workdir, "rules.yml")
    with open(config, "w") as f:
        f.write(config_text)
    with open(rules, "w") as f:
        f.write(rules_text)
    run_tool([PROMTOOL, "check", "config", config], "promtool check config")
    run_tool([PROMTOOL, "check", "rules", rules], "promtool check rules")
    tsdb = os.path.join(stack.workdir, "prometheus-data")
    p = stack.start("prometheus", [
        PROMETHEUS,
        f"--config.file={config}",
        "--web.listen-address=127.0.0.1:0",
        f"--web.external-url={external_url}",
        "--web.route-prefix=/",
        f"--storage.tsdb.path={tsdb}",
        "--rules.alert.resend-delay=1s",
        "--log.level=info",
    ])
    server = Server(p, p.wait_for_port(TOOLKIT_LISTEN_RE))
    wait_http_ok(server.url + "/-/ready", what="Prometheus /-/ready")
    return server


def start_alertmanager(stack, config_text, external_url="http://alertmanager.e2e.test/"):
    """Writes alertmanager.yml, has amtool check it, starts Alertmanager on
    127.0.0.1:0 without its gossip port, and waits until it is ready."""
    expect(os.access(ALERTMANAGER, os.X_OK),
           f"{ALERTMANAGER} missing (Debian package prometheus-alertmanager)")
    config = os.path.join(stack.workdir, "alertmanager.yml")
    with open(config, "w") as f:
        f.write(config_text)
    run_tool([AMTOOL, "check-config", config], "amtool check-config")
    storage = os.path.join(stack.workdir, "alertmanager-data")
    p = stack.start("alertmanager", [
        ALERTMANAGER,
        f"--config.file={config}",
        "--web.listen-address=127.0.0.1:0",
        f"--web.external-url={external_url}",
        "--web.route-prefix=/",
        f"--storage.path={storage}",
        "--cluster.listen-address=",
        "--log.level=info",
    ])
    server = Server(p, p.wait_for_port(TOOLKIT_LISTEN_RE))
    wait_http_ok(server.url + "/-/ready", what="Alertmanager /-/ready")
    return server


# ---------------------------------------------------------------------------
# Runner


def run_tests(tests, prefix="ht-e2e"):
    """Runs each test function with a fresh Stack in its own temp dir. A
    passing test's dir is removed; a failing one's is kept and named. Prints
    `N passed, M failed` last and returns the process exit code."""
    only = os.environ.get("HT_E2E_ONLY")
    passed = failed = 0
    for test in tests:
        if only and only not in test.__name__:
            continue
        workdir = tempfile.mkdtemp(prefix=f"{prefix}-{test.__name__}-")
        started = time.monotonic()
        print(f"[ RUN      ] {test.__name__}", flush=True)
        stack = Stack(workdir)
        error = None
        try:
            with stack:
                try:
                    test(stack)
                except BaseException:
                    # Logs before the processes are stopped and their files closed.
                    error = traceback.format_exc() + "\n" + stack.logs()
                    raise
        except Exception:
            if error is None:
                error = traceback.format_exc()
        elapsed = time.monotonic() - started
        if error is None:
            passed += 1
            shutil.rmtree(workdir, ignore_errors=True)
            print(f"[       OK ] {test.__name__} ({elapsed:.1f}s)", flush=True)
        else:
            failed += 1
            print(error, flush=True)
            print(f"[  FAILED  ] {test.__name__} ({elapsed:.1f}s); files kept in {workdir}",
                  flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


SKIP_EXIT_CODE = 77  # CTest's SKIP_RETURN_CODE for these tests


def main(tests, prefix):
    engine = os.path.join(BIN_DIR, "hollowtrees")
    if not os.access(engine, os.X_OK):
        print(f"SKIPPED: {engine} is not built; nothing to test end to end", flush=True)
        print("0 passed, 0 failed", flush=True)
        sys.exit(SKIP_EXIT_CODE)
    sys.exit(run_tests(tests, prefix))
