#!/usr/bin/env bash
# Installs everything and starts Tradecore in single-node mode (embedded PostgreSQL, in-process
# fan-out, web UI at /). Prints the URL and the admin credentials. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=12.4.2
if [ "$(pnpm -v 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "installing pnpm $PNPM_VERSION" >&2
  npm install -g "pnpm@$PNPM_VERSION" >&2
fi
pnpm install --frozen-lockfile >&2
if [ ! -f ui/dist/index.html ] || [ -n "$(find ui/src ui/index.html -newer ui/dist/index.html -print -quit 2>/dev/null)" ]; then
  echo "building the web UI" >&2
  pnpm --filter @tradecore/ui build >&2
fi
# A larger young generation than V8's default; 32 MiB, not the engine's 64, for the command latency (docs/operations.md).
exec node --max-semi-space-size=32 --import tsx packages/server/src/main.ts
