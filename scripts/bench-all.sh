#!/usr/bin/env bash
# Runs every root `bench:*` script of package.json in sequence, with PostgreSQL and the local Kafka
# broker up as for scripts/test-all.sh, then prints each benchmark's last `RESULT {json}` line.
# Exit status is non-zero if a benchmark failed or printed no RESULT line.
# Environment: DATABASE_URL / KAFKA_BROKERS (external services), KEEP_KAFKA=1, BENCH_FILTER=<regex>
# (only the bench:* names matching it).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
OUT="$ROOT/.tmp/bench-all"
mkdir -p "$OUT"

step() { printf '\n==== %s (%s)\n' "$*" "$(date +%T)"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }

kafka_started_here=0
stop_kafka() {
  if ((kafka_started_here)) && [[ "${KEEP_KAFKA:-}" != 1 ]]; then
    bash "$ROOT/infra/kafka-local/kafka.sh" stop || warn "could not stop the local Kafka broker"
    kafka_started_here=0
  fi
}
trap stop_kafka EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

step "dependencies"
if [[ -f pnpm-lock.yaml ]]; then pnpm install --frozen-lockfile || exit 1; else pnpm install || exit 1; fi

step "PostgreSQL"
if [[ -n "${DATABASE_URL:-}" ]]; then
  echo "using DATABASE_URL"
elif pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "PostgreSQL answers on 127.0.0.1:5432"
elif command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
  for version in $(ls /etc/postgresql | sort -rn); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start && break
  done
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || warn "PostgreSQL did not start; benchmarks needing it may fall back or fail"
else
  warn "no PostgreSQL on 127.0.0.1:5432"
fi

step "Kafka"
if [[ -n "${KAFKA_BROKERS:-}" ]]; then
  echo "using KAFKA_BROKERS=$KAFKA_BROKERS"
else
  bash infra/kafka-local/kafka.sh status >/dev/null 2>&1 || kafka_started_here=1
  if bash infra/kafka-local/kafka.sh start; then
    export KAFKA_BROKERS=127.0.0.1:9092
  else
    warn "the local Kafka broker did not start; benchmarks needing Kafka will fail or skip"
  fi
fi
export KAFKAJS_NO_PARTITIONER_WARNING=1

mapfile -t benches < <(node -e '
  const s = require("./package.json").scripts ?? {};
  const only = process.env.BENCH_FILTER ? new RegExp(process.env.BENCH_FILTER) : null;
  for (const name of Object.keys(s)) if (name.startsWith("bench:") && (!only || only.test(name))) console.log(name);
')
if ((${#benches[@]} == 0)); then
  echo "no bench:* scripts in package.json${BENCH_FILTER:+ match BENCH_FILTER=$BENCH_FILTER}"
  exit 0
fi

results=()
failed=0
for name in "${benches[@]}"; do
  step "$name"
  log="$OUT/${name//[^a-zA-Z0-9_.-]/_}.log"
  pnpm run --silent "$name" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  result="$(grep -E '^RESULT ' "$log" | tail -n 1)"
  if ((status != 0)); then
    results+=("$name: FAILED (exit $status; log $log)${result:+ last $result}")
    failed=1
  elif [[ -z "$result" ]]; then
    results+=("$name: FAILED (no RESULT line; log $log)")
    failed=1
  else
    results+=("$name: $result")
  fi
done

stop_kafka
echo
echo "==== results"
printf '%s\n' "${results[@]}"
exit "$failed"
