#!/usr/bin/env bash
# bb-sim repeats itself: the same scenario and seed give the same output, byte for byte; another
# seed gives another run. The last line is the JSON summary with its contract's fields.
set -euo pipefail
sim="$1"
scenario="$2"
charts="${3:-}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$sim" --scenario "$scenario" --seed 5 -q >"$out/a"
"$sim" --scenario "$scenario" --seed 5 -q >"$out/b"
"$sim" --scenario "$scenario" --seed 6 -q >"$out/c"
if ! cmp "$out/a" "$out/b"; then
  diff "$out/a" "$out/b" | head -20
  echo "FAIL: two runs with seed 5 differ"
  exit 1
fi
if cmp -s "$out/a" "$out/c"; then
  echo "FAIL: seeds 5 and 6 gave the same run"
  exit 1
fi
tail -n 1 "$out/a" | python3 -c '
import json, sys
s = json.loads(sys.stdin.read())
for k in ("nodes", "seed", "delivery_ratio", "p50_ms", "p99_ms"):
    assert k in s, "missing " + k
assert s["seed"] == 5, s["seed"]
assert 0 < s["delivery_ratio"] <= 1, s["delivery_ratio"]
assert 0 < s["p50_ms"] <= s["p99_ms"], (s["p50_ms"], s["p99_ms"])
print("ok:", json.dumps({k: s[k] for k in ("nodes", "seed", "delivery_ratio", "p50_ms", "p99_ms")}))
'
echo "ok: seed 5 twice: $(wc -c <"$out/a") identical bytes; seed 6 differs"
# The data files, and the charts drawn from them (scripts/sim-charts), when gnuplot is here.
"$sim" --scenario "$scenario" --seed 5 -q --data "$out/data" >/dev/null
for f in latency_cdf.dat hops.dat hosts.dat messages.dat; do
  [ -s "$out/data/$f" ] || { echo "FAIL: --data wrote no $f"; exit 1; }
done
if [ -n "$charts" ] && command -v gnuplot >/dev/null; then
  "$charts" "$out/data" --out "$out/img" >/dev/null
  for f in sim-latency.png sim-hops.png sim-traffic.png; do
    [ -s "$out/img/$f" ] || { echo "FAIL: sim-charts drew no $f"; exit 1; }
  done
  echo "ok: data files and charts"
fi
