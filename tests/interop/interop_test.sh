#!/usr/bin/env bash
# One bb <-> js-libp2p interop case, run by CTest:
#   interop_test.sh CASE BB_NODE JS_DIR
# Exits 77 (CTest SKIP_RETURN_CODE) when Node.js >= 20 or the js peer's node_modules is missing,
# so a machine without Node skips the interop tests instead of failing them. The case itself
# runs in interop_test.mjs, which bounds every wait and stops every process it starts.
set -u

if [ $# -ne 3 ]; then
  echo "usage: interop_test.sh CASE BB_NODE JS_DIR" >&2
  exit 2
fi
case_name=$1 bb_node=$2 js_dir=$3
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
skip=77

if ! command -v node >/dev/null 2>&1; then
  echo "SKIP interop/$case_name: 'node' not found on PATH (need Node.js >= 20)"
  exit $skip
fi
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)"
if ! [ "$node_major" -ge 20 ] 2>/dev/null; then
  echo "SKIP interop/$case_name: Node.js $(node --version 2>/dev/null) is too old (need >= 20)"
  exit $skip
fi
# install.sh writes the stamp after a successful npm ci; without it, or with a stale one, the
# pinned js-libp2p versions cannot be assumed.
stamp="$js_dir/node_modules/.bb-lock-sha256"
if [ ! -f "$stamp" ] ||
  [ "$(cat "$stamp")" != "$(sha256sum "$js_dir/package-lock.json" | cut -d' ' -f1)" ]; then
  echo "SKIP interop/$case_name: js-libp2p is not installed or out of date;" \
    "run $js_dir/install.sh"
  exit $skip
fi
if [ ! -x "$bb_node" ]; then
  echo "FAIL interop/$case_name: bb-node not found at $bb_node"
  exit 1
fi

exec node "$here/interop_test.mjs" "$case_name" "$bb_node" "$js_dir"
