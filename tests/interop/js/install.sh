#!/usr/bin/env bash
# Installs the js-libp2p interop peer's dependencies from package-lock.json (npm ci).
# Idempotent: skips the install when node_modules was built from the current lock file.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install.sh: '$tool' not found on PATH; install Node.js >= 20 with npm" >&2
    exit 1
  fi
done

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "install.sh: Node.js $(node --version) is too old; need >= 20 (22+ needs no polyfill)" >&2
  exit 1
fi

# The stamp records which lock file node_modules was installed from.
stamp="node_modules/.bb-lock-sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "install.sh: node_modules is up to date with package-lock.json"
  exit 0
fi

echo "install.sh: npm ci in $here"
if ! npm ci --no-audit --no-fund; then
  echo "install.sh: npm ci failed (is the npm registry reachable?)" >&2
  exit 1
fi
echo "$want" > "$stamp"
echo "install.sh: done"
