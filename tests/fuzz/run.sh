#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++-14 (address and undefined
# behaviour sanitizers) in a build directory of their own, then runs them.
#
#   tests/fuzz/run.sh [--build-dir DIR] [--smoke | --seconds N] [TARGET...]
#
#   --smoke      each target for 20,000 runs on its seed corpus (the CTest run)
#   --seconds N  each target for N seconds, new inputs kept in DIR/corpus/<target>
#   TARGET...    only these (default: all)
#
# A crash stops the run: the input is saved as DIR/crash-<target>-*, the
# sanitizer report is printed, and the exit code is non-zero.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build_dir="$src/build-fuzz"
mode=smoke
seconds=0
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --smoke) mode=smoke; shift ;;
    --seconds) mode=campaign; seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(prometheus_alerts_fuzzer alertmanager_webhook_fuzzer cloudevents_json_fuzzer
           cloudevents_binary_fuzzer config_fuzzer jwt_fuzzer kubeconfig_fuzzer kube_api_fuzzer
           aws_xml_fuzzer aws_shared_config_fuzzer imds_fuzzer webhook_request_fuzzer
           aws_event_fuzzer aws_sqs_fuzzer ha_state_fuzzer)
fi

cxx="$(command -v clang++-14 || true)"
if [[ -z "$cxx" ]]; then
  echo "fuzz: clang++-14 is not installed (scripts/install-deps.sh --test installs it)" >&2
  exit 1
fi

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
if [[ ! -f "$build_dir/build.ninja" ]]; then
  mkdir -p "$build_dir"
  # -O1 and line tables only: the instrumented build stays a few minutes.
  cmake -S "$src" -B "$build_dir" -G Ninja "${launcher[@]}" \
    -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=Fuzz \
    -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
    -DHT_FUZZ=ON -DHT_BUILD_BENCH=OFF -DHT_BUILD_TESTS=ON >"$build_dir/configure.log" 2>&1 ||
    { cat "$build_dir/configure.log" >&2; exit 1; }
fi
ninja -C "$build_dir" -j"${HT_FUZZ_JOBS:-2}" "${targets[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in "${targets[@]}"; do
  seeds="$here/corpus/$t"
  bin="$build_dir/fuzz/$t"
  args=(-max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$build_dir/crash-$t-" -print_final_stats=1)
  if [[ -f "$here/dict/$t.dict" ]]; then args+=(-dict="$here/dict/$t.dict"); fi
  if [[ "$mode" == smoke ]]; then
    echo "== $t: 20000 runs"
    # New inputs go to a scratch directory, never into the source tree.
    scratch="$build_dir/smoke-corpus/$t"
    rm -rf "$scratch" && mkdir -p "$scratch"
    if ! "$bin" "${args[@]}" -runs=20000 "$scratch" "$seeds" >"$build_dir/$t.log" 2>&1; then
      tail -n 60 "$build_dir/$t.log"; status=1
    fi
  else
    work="$build_dir/corpus/$t"
    mkdir -p "$work"
    echo "== $t: ${seconds}s"
    if ! "$bin" "${args[@]}" -max_total_time="$seconds" "$work" "$seeds" >"$build_dir/$t.log" 2>&1; then
      tail -n 60 "$build_dir/$t.log"; status=1
    fi
  fi
  grep -E "stat::number_of_executed_units|stat::new_units_added|Done [0-9]+ runs" "$build_dir/$t.log" | tr '\n' ' ' || true
  echo
done
exit $status
