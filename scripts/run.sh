#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts the example plugin
# (ht-log-action-plugin on 127.0.0.1:8889) in the background and the engine
# with config/hollowtrees.yaml in the foreground (logs on the terminal).
# Ctrl-C stops both. Try it from another terminal:
#   curl -XPOST -H 'Content-Type: application/json' localhost:9092/api/v2/alerts \
#     -d '[{"labels":{"alertname":"SpotTerminationNotice","cluster_name":"test-cluster","instance_id":"i-1"}}]'
set -euo pipefail
cd "$(dirname "$0")/.."
# --pipeline [ARGS]: the whole pipeline on loopback instead (scripts/pipeline.py,
# docs/pipeline.md): fakes, exporter, Prometheus, engine and both plugins.
if [[ "${1:-}" == "--pipeline" ]]; then
  shift
  scripts/install-deps.sh --test
  scripts/build.sh >/dev/null
  HT_BIN_DIR=${HT_BUILD_DIR:-build}/bin exec /usr/bin/python3 scripts/pipeline.py "$@"
fi
scripts/install-deps.sh
scripts/build.sh >/dev/null
BIN=${HT_BUILD_DIR:-build}/bin
CONFIG=${HT_CONFIG:-config/hollowtrees.yaml}
"$BIN/hollowtrees" check-config "$CONFIG"

"$BIN/ht-log-action-plugin" --listen 127.0.0.1:8889 &
plugin_pid=$!
"$BIN/hollowtrees" --config "$CONFIG" "$@" &
engine_pid=$!
# Forward Ctrl-C / SIGTERM to both, then wait for them to finish.
trap 'kill -TERM "$engine_pid" "$plugin_pid" 2>/dev/null || true' INT TERM
rc=0
wait "$engine_pid" || rc=$?
if kill -0 "$engine_pid" 2>/dev/null; then wait "$engine_pid" || rc=$?; fi
kill -TERM "$plugin_pid" 2>/dev/null || true
wait "$plugin_pid" 2>/dev/null || true
exit "$rc"
