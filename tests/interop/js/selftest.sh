#!/usr/bin/env bash
# Installs the dependencies if needed, then runs the js<->js self-test of peer.mjs.
#   ./selftest.sh                      # functional checks (~5 s)
#   ./selftest.sh --perf-runs 3        # plus 3 perf runs of 100 MiB each way, with the median
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/install.sh"
exec node "$here/selftest.mjs" "$@"
