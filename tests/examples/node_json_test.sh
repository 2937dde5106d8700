#!/usr/bin/env bash
# bb-node's and bb-chat's output for programs (docs/cli-json.md): --version; --json on every
# bb-node subcommand, every stdout line a JSON object with "ts" and "schema"; errors as an error
# line plus the exit status; perf's intermediary and final lines; and with -vv, logs on stderr
# only. Every wait reads output with a bound; nothing sleeps to synchronise.
#
# usage: node_json_test.sh BB_NODE BB_CHAT VERSION   (VERSION: project()'s, from CMake)
set -u
node=$1
chat=$2
version=$3
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
run_pid=
cleanup() {
  [ -n "$run_pid" ] && kill -KILL "$run_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fails=0
ok() { echo "ok   $1"; }
fail() {
  echo "FAIL $1"
  fails=$((fails + 1))
}
bound() { timeout -k 5 60 "$@"; }  # no command of this test may hang it

# check NAME FILE ARGS...: FILE's lines against the JSON contract (check_json_lines.py ARGS).
check() {
  local name=$1 file=$2 why
  shift 2
  if why=$(python3 "$here/check_json_lines.py" "$file" "$@"); then
    ok "$name"
  else
    fail "$name: $why; stdout: $(head -c 2000 "$file")"
  fi
}

# json NAME STATUS ARGS... -- CMD...: runs CMD with -vv (logs at trace level), expects exit
# STATUS, checks its stdout (ARGS to check_json_lines.py), and that stderr got the logs.
json() {
  local name=$1 want=$2 status
  shift 2
  local checks=()
  while [ "$1" != -- ]; do
    checks+=("$1")
    shift
  done
  shift
  bound "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  status=$?
  if [ "$status" -ne "$want" ]; then
    fail "$name: exit $status, want $want; stderr: $(tail -c 2000 "$dir/$name.err")"
    return
  fi
  check "$name" "$dir/$name.out" "${checks[@]}"
}

# --- --version ---------------------------------------------------------------------------------
out=$("$node" --version)
[ $? -eq 0 ] && [ "$out" = "bb-node $version" ] && ok "node-version" ||
  fail "bb-node --version printed '$out', want 'bb-node $version'"
out=$("$chat" --version)
[ $? -eq 0 ] && [ "$out" = "bb-chat $version" ] && ok "chat-version" ||
  fail "bb-chat --version printed '$out', want 'bb-chat $version'"
"$node" --version --json >"$dir/version.out"
check node-version-json "$dir/version.out" --event version
python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); sys.exit(0 if e["program"]=="bb-node" and e["version"]==sys.argv[2] else 1)' \
  "$dir/version.out" "$version" && ok "node-version-json-fields" ||
  fail "bb-node --version --json: $(cat "$dir/version.out")"
"$node" --json id --key-hex 00 >"$dir/misplaced.out" 2>"$dir/misplaced.err"
[ $? -eq 2 ] && grep -q "goes after the subcommand" "$dir/misplaced.err" && ok "json-before-subcommand-refused" ||
  fail "bb-node --json id: $(cat "$dir/misplaced.out" "$dir/misplaced.err")"

# --- keygen, id, multiaddr -----------------------------------------------------------------------
json keygen 0 --event key -- "$node" keygen --out "$dir/node.key" --json
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["peer"])' "$dir/keygen.out")
json id 0 --event id -- "$node" id --key "$dir/node.key" --json
json keygen-writer 0 --event key -- "$node" keygen --out "$dir/writer.key" --json
writer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["peer"])' "$dir/keygen-writer.out")
# A log line (the warning about BB_LOG) goes to stderr, the command's one JSON line to stdout.
BB_LOG=loud "$node" id --key "$dir/node.key" --json >"$dir/log-warning.out" 2>"$dir/log-warning.err"
check log-warning-stdout-json "$dir/log-warning.out" --event id --min-lines 1
[ "$(wc -l <"$dir/log-warning.out")" = 1 ] && grep -q "BB_LOG='loud' is not a log level" "$dir/log-warning.err" &&
  ok "log-warning-on-stderr" || fail "BB_LOG warning: stdout $(cat "$dir/log-warning.out"), stderr $(cat "$dir/log-warning.err")"
grep -q "\"peer\":\"$id\"" "$dir/id.out" && ok "id-json-peer" || fail "id --json: $(cat "$dir/id.out")"
json id-hex 0 --event id -- "$node" id --json --key-hex \
  080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e
json multiaddr-to-hex 0 --event multiaddr -- "$node" multiaddr /ip4/192.0.2.42/tcp/443 --json
grep -q '"hex":"04c000022a0601bb"' "$dir/multiaddr-to-hex.out" && ok "multiaddr-json-hex" ||
  fail "multiaddr --json: $(cat "$dir/multiaddr-to-hex.out")"
json multiaddr-from-hex 0 --event multiaddr -- "$node" multiaddr 0x047f000001910204d2 --json
grep -q '"text":"/ip4/127.0.0.1/udp/1234"' "$dir/multiaddr-from-hex.out" && ok "multiaddr-json-text" ||
  fail "multiaddr --json 0x...: $(cat "$dir/multiaddr-from-hex.out")"

# --- errors: one error line on stdout, the reason on stderr as before, the exit status ------------
json err-bad-multiaddr 2 --error bad_multiaddr -- "$node" multiaddr /ip4/999.0.0.1 --json
grep -q "is not a multiaddr" "$dir/err-bad-multiaddr.err" && ok "err-bad-multiaddr-stderr" ||
  fail "bad multiaddr: stderr $(cat "$dir/err-bad-multiaddr.err")"
json err-bad-hex 2 --error bad_hex -- "$node" multiaddr 0xabc --json
json err-bad-key-hex 2 --error bad_key -- "$node" id --key-hex 0801 --json
json err-no-key-file 1 --error key_file_unreadable -- "$node" id --key "$dir/absent" --json
json err-keygen-exists 1 --error key_file_exists -- "$node" keygen --out "$dir/node.key" --json
json err-send-no-p2p 2 --error no_peer_id -- "$node" send /ip4/127.0.0.1/tcp/1 --data x --json
json err-send-unreachable 1 --error unreachable -- \
  "$node" send "/ip4/127.0.0.1/tcp/1/p2p/$id" --data x --timeout-ms 3000 --json -vv
json err-request-bad-service 2 --error bad_service -- \
  "$node" request "/ip4/127.0.0.1/tcp/1/p2p/$id" --service "" --data x --json
json err-ping-unreachable 1 --error unreachable -- "$node" ping "/ip4/127.0.0.1/tcp/1/p2p/$id" --json -vv
json err-perf-bad-addr 2 --error bad_multiaddr -- "$node" perf /nope --upload 1 --download 1 --json
json err-publish-no-peer 1 --error no_peer_reached --event dial_failed -- \
  "$node" publish --topic t --data x --connect "/ip4/127.0.0.1/tcp/1/p2p/$id" --json
json err-dht-bad-peer 2 --error bad_peer_id -- \
  "$node" dht find-peer nobody --bootstrap "/ip4/127.0.0.1/tcp/1/p2p/$id" --json
json err-dht-bad-mode 2 --error bad_dht_mode -- \
  "$node" dht get "/bb/$id/x" --bootstrap "/ip4/127.0.0.1/tcp/1/p2p/$id" --dht both --json
json err-dht-no-bootstrap 1 --error no_bootstrap -- \
  "$node" dht find-providers bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy \
  --bootstrap "/ip4/127.0.0.1/tcp/1/p2p/$id" --timeout-ms 2000 --json -vv
json err-run-bad-cid 2 --error bad_cid -- "$node" run --provide xyz --json

# --- a node, and every network command against it, each with -vv -------------------------------
cid=bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy
# --connect to a closed port: a dial error line on stdout, and (-vv) a debug log on stderr.
coproc RUN { exec "$node" run -vv --json --key "$dir/node.key" --channel chat --serve-echo \
  --serve-perf --topic news --dht server --provide "$cid" \
  --connect "/ip4/127.0.0.1/tcp/1/p2p/$id" 2>"$dir/run.err"; }
run_pid=$RUN_PID
exec {run_fd}<&"${RUN[0]}"  # RUN goes away with the coprocess; its output is read to the end
: >"$dir/run.out"
# wait_run REGEX: reads the node's stdout until a line matches (each read bounded in time).
wait_run() {
  local line
  while IFS= read -r -t 20 line <&"$run_fd"; do
    echo "$line" >>"$dir/run.out"
    grep -qE "$1" <<<"$line" && return 0
  done
  return 1
}
if ! wait_run '"event":"listening"'; then
  fail "run: no listening line: $(cat "$dir/run.out") $(tail -c 2000 "$dir/run.err")"
else
  listen=$(grep -oE '/ip4/[^ "]*/p2p/[^ "]*' "$dir/run.out" | head -n1)
  wait_run '"event":"dht"' || fail "run: no dht line"
  # Alone in the DHT, the node has nobody to give its provider record to: an error line that
  # it survives (kind provide), or a provide line.
  wait_run '"event":"provide"|"kind":"provide"' && ok "run-provide-reported" ||
    fail "run did not report providing $cid"
  json send 0 --event delivered -- "$node" send "$listen" --channel chat --data hi --json -vv
  wait_run '"event":"message".*"payload":"hi"' && ok "run-printed-message" ||
    fail "run did not print the message"
  json request 0 --event response -- \
    "$node" request "$listen" --service echo --data "echo me" --json -vv
  grep -q '"payload":"echo me"' "$dir/request.out" && ok "request-json-payload" ||
    fail "request --json: $(cat "$dir/request.out")"
  json err-request-no-service 1 --error request_failed -- \
    "$node" request "$listen" --service nobody --data x --json
  json ping 0 --event ping --min-lines 2 -- "$node" ping "$listen" --count 2 --json -vv
  # 320 MiB in 100 ms intervals: at least one interval ends before the run does unless the
  # loopback moves more than 3 GiB/s through Noise; the last one is cut when the run ends.
  json perf 0 --perf -- "$node" perf "$listen" --upload $((64 << 20)) --download $((256 << 20)) \
    --interval-ms 100 --json -vv
  json publish 0 --event published -- \
    "$node" publish --topic news --data "extra" --connect "$listen" --json -vv
  json dht-put 0 --event stored -- \
    "$node" dht put greeting "hello dht" --bootstrap "$listen" --key "$dir/writer.key" --json -vv
  json dht-get 0 --event record -- \
    "$node" dht get "/bb/$writer/greeting" --bootstrap "$listen" --json -vv
  grep -q '"data":"hello dht"' "$dir/dht-get.out" && ok "dht-get-json-data" ||
    fail "dht get --json: $(cat "$dir/dht-get.out")"
  json dht-find-providers 0 --event provider -- \
    "$node" dht find-providers "$cid" --bootstrap "$listen" --json -vv
  json dht-find-peer 0 --event peer -- "$node" dht find-peer "$id" --bootstrap "$listen" --json -vv
  # The same commands' text output with -vv: only the command's lines on stdout.
  bound "$node" -vv ping "$listen" --count 2 >"$dir/ping.txt" 2>"$dir/ping-text.err"
  if [ "$(grep -cE "^ping $id rtt_ms=[0-9.e-]+$" "$dir/ping.txt")" = 2 ] &&
    [ "$(wc -l <"$dir/ping.txt")" = 2 ]; then
    ok "ping-text-stdout-only-output"
  else
    fail "ping -vv text stdout: $(cat "$dir/ping.txt")"
  fi
  bound "$node" perf "$listen" --upload $((64 << 20)) --download $((256 << 20)) \
    --interval-ms 100 -vv >"$dir/perf.txt" 2>/dev/null
  if grep -qE '^interval seconds=[0-9.]+ upload_bytes=[0-9]+ download_bytes=[0-9]+ mib_per_s=' "$dir/perf.txt" &&
    [ "$(tail -n2 "$dir/perf.txt" | head -n1 | grep -cE "^upload bytes=$((64 << 20)) seconds=\S+ mib_per_s=\S+$")" = 1 ] &&
    [ "$(tail -n1 "$dir/perf.txt" | grep -cE "^download bytes=$((256 << 20)) seconds=\S+ mib_per_s=\S+$")" = 1 ] &&
    ! grep -qvE '^(interval|upload|download) ' "$dir/perf.txt"; then
    ok "perf-text-intervals-then-summary"
  else
    fail "perf text: $(cat "$dir/perf.txt")"
  fi
  kill -TERM "$run_pid"
  # The rest of the node's output, to its end (bounded: the node stops within seconds).
  while IFS= read -r -t 20 line <&"$run_fd"; do echo "$line" >>"$dir/run.out"; done
  exec {run_fd}<&-
  wait "$run_pid"
  status=$?
  run_pid=
  [ "$status" = 0 ] && ok "run-sigterm-exits-0" || fail "run: exit $status on SIGTERM"
  check run-stdout-all-json "$dir/run.out" --event listening --event peer_up --event message \
    --event pubsub --event dht --event error
  grep -q '\[debug\] dial to /ip4/127.0.0.1/tcp/1/' "$dir/run.err" && ok "run-vv-logs-on-stderr" ||
    fail "run -vv did not log the failed dial on stderr: $(head -c 2000 "$dir/run.err")"
fi

# --- bb-chat -vv: the chat's lines on stdout, logs on stderr -----------------------------------
bound "$chat" --name alice -vv </dev/null >"$dir/chat.out" 2>"$dir/chat.err"
if grep -q '^listening /ip4/127.0.0.1/tcp/' "$dir/chat.out" &&
  ! grep -qvE '^(listening |\* |! |[^ :]+: )' "$dir/chat.out" &&
  ! grep -qE '\[(trace|debug|info|warning|error)\]' "$dir/chat.out"; then
  ok "chat-vv-stdout-only-chat-lines"
else
  fail "bb-chat -vv stdout: $(cat "$dir/chat.out")"
fi

exit $((fails > 0))
