#!/usr/bin/env bash
# The house rules of bb's source tree, checked on every test run:
#   1. arrows point down only: a floor (a folder of bb/) includes only floors below it
#        proto < async < wire < runtime < syscalls < node < dht < pubsub
#      (examples/ and tests/ may include any floor; nothing includes them);
#   2. every bb header is included by its installed name, "bb/<floor>/...";
#   3. no library source file (those floors' .cpp and .hpp) is over 600 lines.
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
      if [ "${inc%%/*}" != bb ]; then
        echo "FAIL ${file#"$root"/} includes \"$inc\": bb's headers are included as \"bb/<floor>/...\""
        fails=$((fails + 1))
        continue
      fi
      rest=${inc#bb/}
      target=${rest%%/*}
      [ "$target" = version.hpp ] && continue
      r=$(rank "$target")
      if [ "$r" -lt 0 ] || [ "$r" -gt "$own" ]; then
        echo "FAIL ${file#"$root"/} includes \"$inc\": $floor may not include $target"
        fails=$((fails + 1))
      fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
    lines=$(wc -l < "$file")
    if [ "$lines" -gt 600 ]; then
      echo "FAIL ${file#"$root"/} has $lines lines (at most 600)"
      fails=$((fails + 1))
    fi
  done < <(find "$root/bb/$floor" -name '*.cpp' -o -name '*.hpp')
done
if [ "$fails" -eq 0 ]; then echo "ok   every include is bb/... and points down; no library file over 600 lines"; fi
exit $((fails > 0))
