#!/usr/bin/env bash
# The house rules of bb's source tree, checked on every test run:
#   1. arrows point down only: a floor includes only floors below it
#        proto < async < wire < runtime < syscalls < node < dht < pubsub
#      (examples/ and tests/ may include any floor; nothing includes them);
#   2. no library source file (those floors' .cpp and .hpp) is over 600 lines.
set -u
root=$1
floors=(proto async wire runtime syscalls node dht pubsub)
fails=0
rank() {
  local i
  for i in "${!floors[@]}"; do
    if [ "${floors[$i]}" = "$1" ]; then echo "$i"; return; fi
  done
  echo -1
}
for floor in "${floors[@]}"; do
  own=$(rank "$floor")
  while IFS= read -r file; do
    while IFS= read -r inc; do
      target=${inc%%/*}
      r=$(rank "$target")
      if [ "$target" = examples ] || [ "$target" = tests ] || [ "$r" -gt "$own" ]; then
        echo "FAIL ${file#"$root"/} includes \"$inc\": $floor may not include $target"
        fails=$((fails + 1))
      fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
    lines=$(wc -l < "$file")
    if [ "$lines" -gt 600 ]; then
      echo "FAIL ${file#"$root"/} has $lines lines (at most 600)"
      fails=$((fails + 1))
    fi
  done < <(find "$root/$floor" -name '*.cpp' -o -name '*.hpp')
done
if [ "$fails" -eq 0 ]; then echo "ok   every include points down; no library file over 600 lines"; fi
exit $((fails > 0))
