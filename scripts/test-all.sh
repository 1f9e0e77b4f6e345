#!/usr/bin/env bash
# THE test command (README, `pnpm test:all`, CI): from a fresh clone, installs everything, makes sure
# PostgreSQL answers on 127.0.0.1:5432 (starting the machine's cluster if it is stopped), starts the
# real local Kafka broker (infra/kafka-local) with KAFKA_BROKERS exported, installs Debian chromium
# for the UI end-to-end tests if missing, then runs `pnpm typecheck`, `pnpm lint` and vitest over
# every project. Every step runs even when an earlier one failed; the exit status is non-zero if
# anything failed. The last line is the vitest total: `N passed, N failed, N skipped`.
#
# Environment: DATABASE_URL / KAFKA_BROKERS (use external services instead of starting local ones),
# TEST_ALL_SKIP_CHROMIUM=1, TEST_ALL_VITEST_TIMEOUT (seconds, default 1500), KEEP_KAFKA=1 (leave
# a broker this script started running).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
OUT="$ROOT/.tmp/test-all"
mkdir -p "$OUT"
PNPM_VERSION=12.4.2

failures=()
step() { printf '\n==== %s (%s)\n' "$*" "$(date +%T)"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
fail() { failures+=("$1"); printf 'FAILED: %s\n' "$1" >&2; }

kafka_started_here=0
kafka_bg_pid=""
stop_kafka() {
  if [[ -n "$kafka_bg_pid" ]] && kill -0 "$kafka_bg_pid" 2>/dev/null; then wait "$kafka_bg_pid" 2>/dev/null; fi
  if ((kafka_started_here)) && [[ "${KEEP_KAFKA:-}" != 1 ]]; then
    bash "$ROOT/infra/kafka-local/kafka.sh" stop || warn "could not stop the local Kafka broker"
    kafka_started_here=0
  fi
}
trap stop_kafka EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# ---- toolchain and dependencies ---------------------------------------------------------------
step "dependencies"
if [[ "$(pnpm -v 2>/dev/null || true)" != "$PNPM_VERSION" ]]; then
  echo "installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" || fail "npm install -g pnpm@$PNPM_VERSION"
fi
if [[ -f pnpm-lock.yaml ]]; then
  if ! pnpm install --frozen-lockfile; then
    fail "pnpm install --frozen-lockfile (pnpm-lock.yaml does not match the package.json files)"
    # Still install, so the checks below report on the code; the run stays failed.
    echo "installing without --frozen-lockfile so the remaining steps can run"
    pnpm install --no-frozen-lockfile || fail "pnpm install"
  fi
else
  pnpm install || fail "pnpm install"
fi

# ---- PostgreSQL -------------------------------------------------------------------------------
step "PostgreSQL"
if [[ -n "${DATABASE_URL:-}" ]]; then
  echo "using DATABASE_URL"
elif pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "PostgreSQL answers on 127.0.0.1:5432"
elif command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
  # Newest installed major version first; CI may start with the cluster stopped.
  for version in $(ls /etc/postgresql | sort -rn); do
    echo "starting PostgreSQL cluster $version/main"
    if pg_ctlcluster --skip-systemctl-redirect "$version" main start; then break; fi
  done
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  if pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "PostgreSQL answers on 127.0.0.1:5432"
  else
    warn "PostgreSQL did not start; @tradecore/testkit falls back to embedded-postgres"
  fi
else
  warn "no PostgreSQL on 127.0.0.1:5432 and no pg_ctlcluster; @tradecore/testkit falls back to embedded-postgres"
fi

# ---- Kafka (started in the background; typecheck and lint run meanwhile) ----------------------
step "Kafka"
if [[ -n "${KAFKA_BROKERS:-}" ]]; then
  echo "using KAFKA_BROKERS=$KAFKA_BROKERS"
else
  if bash infra/kafka-local/kafka.sh status >/dev/null 2>&1; then
    echo "the local Kafka broker is already running; it is left running afterwards"
  else
    kafka_started_here=1
    echo "starting the local Kafka broker in the background (log: $OUT/kafka-start.log)"
  fi
  bash infra/kafka-local/kafka.sh start >"$OUT/kafka-start.log" 2>&1 &
  kafka_bg_pid=$!
  export KAFKA_BROKERS=127.0.0.1:9092
fi
export KAFKAJS_NO_PARTITIONER_WARNING=1

# ---- chromium for the UI end-to-end tests -----------------------------------------------------
step "chromium"
if [[ -x /usr/bin/chromium ]]; then
  echo "/usr/bin/chromium present"
elif [[ "${TEST_ALL_SKIP_CHROMIUM:-}" == 1 ]]; then
  warn "TEST_ALL_SKIP_CHROMIUM=1: not installing chromium; UI end-to-end tests will skip or fail"
else
  sudo_cmd=()
  if [[ "$(id -u)" != 0 ]]; then sudo_cmd=(sudo -n); fi
  echo "installing Debian chromium (apt-get)"
  if ! { "${sudo_cmd[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends chromium >"$OUT/apt-chromium.log" 2>&1; }; then
    warn "could not install chromium (see $OUT/apt-chromium.log); UI end-to-end tests will skip or fail"
  fi
fi

# ---- checks -----------------------------------------------------------------------------------
step "pnpm typecheck"
pnpm typecheck || fail "pnpm typecheck"

step "pnpm lint"
pnpm lint || fail "pnpm lint"

step "pnpm audit --prod (allow-list in pnpm-workspace.yaml)"
bash scripts/audit.sh || fail "pnpm audit"

step "web UI build (served by single-node mode, used by the UI end-to-end tests)"
pnpm --filter @tradecore/ui build || fail "ui build"

if [[ -n "$kafka_bg_pid" ]]; then
  step "waiting for the local Kafka broker"
  if wait "$kafka_bg_pid"; then
    cat "$OUT/kafka-start.log"
  else
    cat "$OUT/kafka-start.log"
    fail "infra/kafka-local/kafka.sh start"
    unset KAFKA_BROKERS # Kafka suites then skip with a printed reason
  fi
  kafka_bg_pid=""
fi

# ---- vitest over every project ----------------------------------------------------------------
step "pnpm test (vitest run, all projects)"
JSON="$OUT/vitest.json"
rm -f "$JSON"
# `pnpm test` is `vitest run`; it is called through pnpm exec because pnpm itself owns --reporter.
timeout --signal=TERM --kill-after=30 "${TEST_ALL_VITEST_TIMEOUT:-1500}" \
  pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$JSON"
vitest_status=$?
if ((vitest_status == 124)); then fail "vitest (timed out after ${TEST_ALL_VITEST_TIMEOUT:-1500}s)"
elif ((vitest_status != 0)); then fail "vitest (exit $vitest_status)"; fi

stop_kafka

summary="$(node - "$JSON" <<'EOF'
const fs = require('node:fs');
const file = process.argv[2];
let r;
try {
  r = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (e) {
  console.log(`0 passed, 0 failed, 0 skipped (no vitest report at ${file}: ${e.message})`);
  process.exit(2);
}
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
// A file can fail with no failing test: an import error, or a beforeAll/describe-level error (its
// tests then show as skipped). Each such file counts as one failure, so "0 failed" means it.
const failedOutsideTests = (r.testResults ?? []).filter(
  (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
);
if (failedOutsideTests.length > 0) {
  console.error(`test files that failed outside any test (counted once each in "failed"): ${failedOutsideTests.length}`);
  for (const f of failedOutsideTests) {
    const why = (f.message ?? '').split('\n')[0] || 'suite-level error (hook or describe); see the vitest output above';
    console.error(`  ${f.name}: ${why}`);
  }
}
const failed = (r.numFailedTests ?? 0) + failedOutsideTests.length;
console.log(`${r.numPassedTests ?? 0} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || r.success === false ? 1 : 0);
EOF
)"
summary_status=$?
if ((summary_status != 0)) && ((vitest_status == 0)); then fail "vitest report"; fi

echo
if ((${#failures[@]} > 0)); then
  echo "test-all: FAILED steps: ${failures[*]}"
else
  echo "test-all: every step passed"
fi
echo "$summary"
((${#failures[@]} == 0))
