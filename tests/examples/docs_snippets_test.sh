#!/usr/bin/env bash
# Docs show code taken from compiled files: each marked block of an example must appear
# verbatim in the doc page that quotes it.
set -u
root=$1
fails=0
check() {  # check SOURCE MARKER DOC [COMMENT]: the block between two "COMMENT [MARKER]" lines
  local snippet
  snippet=$(awk -v m="${4:-//} [$2]" 'index($0, m) { f = !f; next } f' "$root/$1")
  if [ -z "$snippet" ]; then
    echo "FAIL no [$2] block in $1"; fails=$((fails + 1)); return
  fi
  local doc
  doc=$(cat "$root/$3")
  if [[ "$doc" != *"$snippet"* ]]
  then
    echo "FAIL $3 does not quote the [$2] block of $1 as it stands"; fails=$((fails + 1))
  else
    echo "ok   $3 quotes [$2] of $1"
  fi
}
check examples/custom_op/main.cpp op docs/pipelines.md
check examples/custom_op/main.cpp pipeline docs/pipelines.md
check examples/hello/main.cpp hello docs/node.md
check examples/pubsub/main.cpp pubsub docs/pubsub.md
check examples/dht/main.cpp dht docs/dht.md
check tests/package/consumer/CMakeLists.txt find_package README.md "#"
check tests/package/package_test.sh pkg-config README.md "#"
exit $((fails > 0))
