#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a while:
#
#   fuzz/run.sh [seconds-per-target] [target...]     (default 20 s, all targets)
#
# Builds all targets once (release, debug assertions on, AddressSanitizer),
# then for each target: replays fuzz/regressions/<target>/ (crashes found so
# far: every file must pass), then fuzzes for N seconds starting from the
# seed corpus fuzz/corpus/<target>/ and the regressions. New interesting
# inputs go to fuzz/target/corpus-work/<target>/ (kept between runs, not
# checked in); a crash is written to fuzz/regressions/<target>/ — minimise it
# (cargo fuzz tmin <target> <file>), keep the minimised file there, fix the
# bug; `cargo test --workspace` then replays it too (server/tests/it/
# fuzz_regressions.rs).
#
# Needs cargo-fuzz (cargo install cargo-fuzz --locked). No nightly needed:
# RUSTC_BOOTSTRAP=1 lets the stable toolchain take cargo-fuzz's -Z flags.
# Prints executions per target and exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-20}"
shift || true
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
BUILD_FLAGS=(--debug-assertions)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

mapfile -t all < <(cargo fuzz list)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

echo "== building ${#targets[@]} fuzz targets"
start=$(date +%s)
cargo fuzz build "${BUILD_FLAGS[@]}"
echo "   built in $(( $(date +%s) - start )) s"
# The binaries are run directly: `cargo fuzz run` would rebuild whenever a
# source changed since, and the run must fuzz what was built above.
bindir="${CARGO_TARGET_DIR:-target}/$(rustc -vV | sed -n 's/^host: //p')/release"

logs="target/fuzz-logs"
mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
  work="target/corpus-work/$t"
  reg="regressions/$t"
  mkdir -p "$work" "$reg" "corpus/$t"
  log="$logs/$t.log"

  mapfile -t cases < <(find "$reg" -maxdepth 1 -type f ! -name '.*' ! -name 'README*' | sort)
  if [ "${#cases[@]}" -gt 0 ]; then
    echo "== $t: replaying ${#cases[@]} regression inputs"
    if ! "$bindir/$t" -rss_limit_mb=2048 -timeout=25 "${cases[@]}" >"$log.replay" 2>&1; then
      tail -n 40 "$log.replay"
      failed+=("$t (regression replay)")
      summary+=("$t: regression replay FAILED")
      continue
    fi
  fi

  echo "== $t: fuzzing for $secs s"
  rc=0
  "$bindir/$t" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -timeout=25 \
    -report_slow_units=100000 -artifact_prefix="$reg/" "$work" "corpus/$t" "$reg" \
    >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || true)
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log"
    failed+=("$t")
    summary+=("$t: CRASHED (exit $rc) after ${execs:-?} executions; input in fuzz/$reg/")
  else
    summary+=("$t: ${execs:-?} executions in $secs s (${cov:-?} coverage points, corpus $(find "$work" -type f | wc -l) + seeds)")
  fi
done

echo "== fuzz summary ($secs s per target)"
printf '   %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]}" >&2
  exit 1
fi
