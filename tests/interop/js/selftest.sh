#!/usr/bin/env bash
# Installs the dependencies if needed, then runs the js<->js self-tests of peer.mjs: listen, ping,
# perf and their exit codes (selftest.mjs), then pubsub (pubsub_selftest.mjs), then the DHT
# (dht_selftest.mjs).
#   ./selftest.sh                      # functional checks, then the pubsub checks
#   ./selftest.sh --perf-runs 3        # plus 3 perf runs of 100 MiB each way, with the median
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/install.sh"
node "$here/selftest.mjs" "$@"
node "$here/pubsub_selftest.mjs"
exec node "$here/dht_selftest.mjs"
