#!/usr/bin/env bash
# bb-node's user-facing contract: exit statuses, stderr messages, key files.
set -u
node=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0

expect() {  # expect NAME STATUS STDERR_REGEX -- CMD...
  local name=$1 want=$2 pattern=$3
  shift 4
  local err status
  err=$("$@" 2>&1 >/dev/null)
  status=$?
  if [ "$status" -ne "$want" ]; then
    echo "FAIL $name: exit $status, want $want (stderr: $err)"
    fails=$((fails + 1))
  elif [ -n "$pattern" ] && ! grep -qE "$pattern" <<<"$err"; then
    echo "FAIL $name: stderr '$err' does not match '$pattern'"
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}

expect bad-multiaddr 2 "is not a multiaddr: multiaddr protocol value is invalid" -- \
  "$node" multiaddr /ip4/999.0.0.1
expect unknown-protocol 2 "unknown protocol" -- "$node" multiaddr /foo/1
expect bad-hex 2 "hex" -- "$node" multiaddr 0xabc
expect bad-binary 2 "is not a binary multiaddr" -- "$node" multiaddr 0x0401
expect bad-key-hex 2 "not a libp2p private key" -- "$node" id --key-hex 0801
expect id-needs-a-key 2 "required" -- "$node" id
expect no-subcommand 2 "subcommand is required" -- "$node"
expect missing-key-file 1 "No such file" -- "$node" id --key "$dir/absent"
for sub in keygen id multiaddr; do
  expect "help-$sub" 0 "" -- "$node" "$sub" --help
done

id=$("$node" keygen --out "$dir/node.key")
mode=$(stat -c %a "$dir/node.key")
[ "$mode" = 600 ] && echo "ok   key-mode-600" || { echo "FAIL key mode $mode"; fails=$((fails + 1)); }
again=$("$node" id --key "$dir/node.key")
[ "$id" = "$again" ] && [[ "$id" == 12D3KooW* ]] && echo "ok   keygen-id-agree" ||
  { echo "FAIL keygen printed '$id', id printed '$again'"; fails=$((fails + 1)); }
expect keygen-refuses-overwrite 1 "use --force" -- "$node" keygen --out "$dir/node.key"

addr="/ip4/127.0.0.1/tcp/4001/p2p/$id"
hex=$("$node" multiaddr "$addr")
back=$("$node" multiaddr "0x$hex")
[ "$back" = "$addr" ] && echo "ok   multiaddr-round-trip" ||
  { echo "FAIL round trip: '$addr' -> '$hex' -> '$back'"; fails=$((fails + 1)); }

# bb-node dht: bad input is refused before any node starts; a bootstrap nobody answers is exit 1.
boot="/ip4/127.0.0.1/tcp/1/p2p/$id"
expect dht-needs-bootstrap 2 "bootstrap" -- "$node" dht find-peer "$id"
expect dht-bad-peer-id 2 "is not a peer id" -- "$node" dht find-peer nobody --bootstrap "$boot"
expect dht-bad-cid 2 "is not a CID" -- "$node" dht find-providers xyz --bootstrap "$boot"
expect dht-get-needs-bb-key 2 "is not a /bb/<peer id>/<name> key" -- \
  "$node" dht get /pk/x --bootstrap "$boot"
expect dht-bad-mode 2 "dht must be server, client or auto" -- \
  "$node" dht find-peer "$id" --bootstrap "$boot" --dht both
expect run-bad-provide 2 "is not a CID" -- "$node" run --provide xyz
expect dht-unreachable-bootstrap 1 "no DHT peer reached" -- \
  "$node" dht find-peer "$id" --bootstrap "$boot" --timeout-ms 3000
for sub in find-peer find-providers get put; do
  expect "help-dht-$sub" 0 "" -- "$node" dht "$sub" --help
done

# bb-node send: exits 0 once a running node has the message, and the node prints it.
expect send-needs-p2p 2 "has no /p2p/" -- "$node" send /ip4/127.0.0.1/tcp/1 --data x
expect send-unreachable 1 "cannot reach" -- \
  "$node" send "/ip4/127.0.0.1/tcp/1/p2p/$id" --data x --timeout-ms 3000
# The node's output is read line by line as it comes, each read bounded in time.
coproc RUN { exec "$node" run --key "$dir/node.key" --channel chat --json --serve-echo 2>&1; }
run_pid=$RUN_PID
listen=
while IFS= read -r -t 10 line <&"${RUN[0]}"; do
  echo "$line" >>"$dir/run.log"
  listen=$(grep -o '"addr":"[^"]*/p2p/[^"]*"' <<<"$line" | cut -d'"' -f4)
  [ -n "$listen" ] && break
done
if [ -z "$listen" ]; then
  echo "FAIL send: bb-node run did not report an address: $(cat "$dir/run.log")"
  fails=$((fails + 1))
else
  expect send-delivered 0 "" -- "$node" send "$listen" --channel chat --data "hello over bb"
  printed=no
  while IFS= read -r -t 10 line <&"${RUN[0]}"; do
    echo "$line" >>"$dir/run.log"
    if grep -q '"channel":"chat".*"payload":"hello over bb"' <<<"$line"; then
      printed=yes
      break
    fi
  done
  if [ "$printed" = yes ]; then
    echo "ok   send-printed-by-run"
  else
    echo "FAIL send: the running node did not print the message: $(cat "$dir/run.log")"
    fails=$((fails + 1))
  fi
  # bb-node request: the response's payload then a newline on stdout, exit 0; a refusal is
  # exit 1 with its reason on stderr.
  "$node" request "$listen" --service echo --data "echo over bb" --timeout-ms 5000 \
    >"$dir/request.out" 2>"$dir/request.err"
  status=$?
  if [ "$status" -eq 0 ] && printf 'echo over bb\n' | cmp -s - "$dir/request.out"; then
    echo "ok   request-echo"
  else
    echo "FAIL request-echo: exit $status, stdout '$(cat "$dir/request.out")'," \
      "stderr '$(cat "$dir/request.err")'"
    fails=$((fails + 1))
  fi
  expect request-no-service 1 "request failed: no_service" -- \
    "$node" request "$listen" --service nobody --data x --timeout-ms 5000
fi
expect request-needs-p2p 2 "has no /p2p/" -- \
  "$node" request /ip4/127.0.0.1/tcp/1 --service echo --data x
expect request-needs-service 2 "required" -- "$node" request "$addr" --data x
kill -INT "$run_pid" 2>/dev/null
wait "$run_pid" 2>/dev/null

ok() { echo "ok   $1"; }
fail() {
  echo "FAIL $1"
  fails=$((fails + 1))
}

# start_node NAME ARGS...: `bb-node run ARGS` as a coprocess; its stdout is read line by line,
# its stderr goes to $dir/NAME.err. Sets node_pid, node_log and listen (empty if it never said).
start_node() {
  local name=$1 line
  shift
  node_log="$dir/$name.log"
  : >"$node_log"
  coproc NODE { exec "$node" run "$@" 2>"$dir/$name.err"; }
  node_pid=$NODE_PID
  listen=
  while IFS= read -r -t 10 line <&"${NODE[0]}"; do
    echo "$line" >>"$node_log"
    listen=$(grep -oE '/ip4/[^ "]*/p2p/[^ "]*' <<<"$line" | head -n1)
    [ -n "$listen" ] && break
  done
}

# wait_line REGEX: reads the node's stdout until a line matches (each read bounded in time).
wait_line() {
  local line
  while IFS= read -r -t 10 line <&"${NODE[0]}"; do
    echo "$line" >>"$node_log"
    grep -qE "$1" <<<"$line" && return 0
  done
  return 1
}

# stop_pid PID SIGNAL: signals a child and sets node_status to its exit status, or to "hung"
# (and kills it) when it is still running 10 s later.
stop_pid() {
  local pid=$1 i status
  kill "-$2" "$pid" 2>/dev/null
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  node_status=
  if kill -0 "$pid" 2>/dev/null; then
    node_status=hung
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  status=$?
  [ "$node_status" = hung ] || node_status=$status
}
stop_node() { stop_pid "$node_pid" "$1"; }

# A payload that is not UTF-8 ('caf' + 0xE9, Latin-1) prints as base64 with --json; the node
# keeps printing afterwards and still exits 0 on SIGTERM.
start_node json-payloads --key "$dir/node.key" --channel chat --json
if [ -z "$listen" ]; then
  fail "json-payloads: bb-node run did not report an address: $(cat "$node_log" "$dir/json-payloads.err")"
else
  expect send-latin1 0 "" -- "$node" send "$listen" --channel chat --data $'caf\xe9'
  wait_line '"encoding":"base64".*"payload":"Y2Fm6Q=="' && ok "json-payload-not-utf8-as-base64" ||
    fail "json: no base64 line for caf\\xe9: $(cat "$node_log" "$dir/json-payloads.err")"
  expect send-after-latin1 0 "" -- "$node" send "$listen" --channel chat --data "still here"
  wait_line '"channel":"chat".*"payload":"still here"' && ok "json-prints-after-bad-utf8" ||
    fail "json: nothing printed after caf\\xe9: $(cat "$node_log" "$dir/json-payloads.err")"
  stop_node TERM
  [ "$node_status" = 0 ] && ok "json-sigterm-exits-0" ||
    fail "json: bb-node run ended with '$node_status' on SIGTERM: $(cat "$dir/json-payloads.err")"
fi

# The same in text mode; a payload with a line break prints as hex, not as a second line.
start_node text-payloads --channel chat
if [ -z "$listen" ]; then
  fail "text-payloads: bb-node run did not report an address: $(cat "$node_log" "$dir/text-payloads.err")"
else
  "$node" send "$listen" --channel chat --data $'caf\xe9' >/dev/null 2>&1
  wait_line '^message .*encoding=base64 .*payload=Y2Fm6Q== ' && ok "text-payload-not-utf8-as-base64" ||
    fail "text: no base64 line for caf\\xe9: $(cat "$node_log")"
  "$node" send "$listen" --channel chat --data $'two\nlines' >/dev/null 2>&1
  wait_line '^message .*payload=0x74776f0a6c696e6573 ' && ok "text-payload-with-newline-as-hex" ||
    fail "text: no hex line for a payload with a newline: $(cat "$node_log")"
  stop_node INT
  [ "$node_status" = 0 ] && ok "text-sigint-exits-0" ||
    fail "text: bb-node run ended with '$node_status' on SIGINT: $(cat "$dir/text-payloads.err")"
fi

# A --connect address that cannot be dialled gets its own error line on stdout; failures are
# counted on stderr, where the count is logged at the latest when the node stops.
start_node dial-failure --json --connect "/ip4/127.0.0.1/tcp/1/p2p/$id"
if [ -z "$listen" ]; then
  fail "dial-failure: bb-node run did not report an address: $(cat "$node_log" "$dir/dial-failure.err")"
else
  wait_line '"event":"error".*"kind":"dial"' && ok "connect-failure-printed" ||
    fail "no error line for an unreachable --connect: $(cat "$node_log")"
  stop_node TERM
  [ "$node_status" = 0 ] && ok "dial-failure-sigterm-exits-0" ||
    fail "dial-failure: exit '$node_status' on SIGTERM"
  grep -qE '\[warning\] [0-9,]+ dials? failed in the last [0-9]+ (ms|s|min): ' "$dir/dial-failure.err" &&
    ok "dial-failures-counted-on-stderr" ||
    fail "no dial failure count on stderr: $(cat "$dir/dial-failure.err")"
  if grep -qv '^{' "$node_log"; then
    fail "dial-failure: stdout has lines that are not JSON: $(cat "$node_log")"
  else
    ok "dial-failure-stdout-is-json"
  fi
fi

# /perf/1.0.0 is served only with --serve-perf.
start_node no-perf
if [ -n "$listen" ]; then
  expect perf-not-served 1 "does not support the requested protocol" -- "$node" perf "$listen" --upload 1024 --download 1024
  stop_node TERM
else
  fail "no-perf: bb-node run did not report an address"
fi
start_node perf --serve-perf
if [ -n "$listen" ]; then
  expect perf-served 0 "" -- "$node" perf "$listen" --upload 100000 --download 300000
  stop_node TERM
else
  fail "perf: bb-node run did not report an address"
fi

# A reader that does not read stdout stalls only the printing, not the node: with the node's
# stdout a full pipe, it still takes messages (and answers their receipts), then prints them
# all once the reader reads, and still exits 0 on SIGTERM.
mkfifo "$dir/slow.fifo"
"$node" run --channel chat --json >"$dir/slow.fifo" 2>"$dir/slow.err" &
slow_pid=$!
exec 5<"$dir/slow.fifo"
listen=
IFS= read -r -t 10 line <&5 && listen=$(grep -oE '/ip4/[^ "]*/p2p/[^ "]*' <<<"$line")
if [ -z "$listen" ]; then
  fail "slow-reader: bb-node run did not report an address: $(cat "$dir/slow.err")"
else
  big=$(head -c 60000 /dev/zero | tr '\0' x)  # a pipe holds 64 KiB: about one such line
  for i in 1 2 3 4 5; do
    expect "slow-reader-send-$i" 0 "" -- \
      "$node" send "$listen" --channel chat --data "$i$big" --timeout-ms 5000
  done
  timeout 20 cat <&5 >"$dir/slow.out" &
  cat_pid=$!
  for i in $(seq 100); do
    [ "$(grep -c '"payload":"[1-5]x' "$dir/slow.out")" = 5 ] && break
    sleep 0.1
  done
  [ "$(grep -c '"payload":"[1-5]x' "$dir/slow.out")" = 5 ] && ok "slow-reader-gets-every-line" ||
    fail "slow-reader: $(grep -c '"payload"' "$dir/slow.out") of 5 message lines printed"
  stop_pid "$slow_pid" TERM
  [ "$node_status" = 0 ] && ok "slow-reader-sigterm-exits-0" ||
    fail "slow-reader: '$node_status' on SIGTERM: $(cat "$dir/slow.err")"
  kill "$cat_pid" 2>/dev/null
  wait "$cat_pid" 2>/dev/null
fi
exec 5<&-
kill -KILL "$slow_pid" 2>/dev/null
wait "$slow_pid" 2>/dev/null

# Limits and log levels on the command line.
expect max-connections-zero 2 "max-connections" -- "$node" run --max-connections 0
expect max-pending-not-a-number 2 "max-pending" -- "$node" run --max-pending lots
expect max-per-ip-zero 2 "max-connections-per-ip" -- "$node" run --max-connections-per-ip 0
expect max-memory-bad-unit 2 "max-memory" -- "$node" run --max-memory 64XB
# A size with a unit is accepted: the node starts (and is stopped at once).
start_node max-memory --max-memory 64MiB --max-connections-per-ip 4 --max-connections 16 \
  --max-pending 8
[ -n "$listen" ] && ok "run-accepts-limits" ||
  fail "run with limits did not start: $(cat "$dir/max-memory.err")"
stop_node TERM
"$node" run --help >"$dir/run-help.txt" 2>&1
for flag in --serve-perf --max-connections --max-pending --max-connections-per-ip --max-memory \
  -v,--verbose -q,--quiet; do
  grep -q -- "$flag" "$dir/run-help.txt" && ok "run-help-lists-$flag" ||
    { echo "FAIL run --help does not list $flag"; fails=$((fails + 1)); }
done
expect bad-bb-log 0 "BB_LOG='loud' is not a log level" -- \
  env BB_LOG=loud "$node" id --key "$dir/node.key"
expect quiet-before-subcommand 0 "" -- env BB_LOG=debug "$node" -q id --key "$dir/node.key"
expect verbose-after-subcommand 2 "has no /p2p/" -- "$node" send -v /ip4/127.0.0.1/tcp/1 --data x

# --peerstore: a node that joined the DHT through a bootstrap node saves what it learned; started
# again with only its file (no --bootstrap), it finds the DHT again.
# wait_file FILE REGEX: until FILE has a matching line (10 s at most).
wait_file() {
  local i
  for i in $(seq 100); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
start_node dht-server --dht server --json
if [ -z "$listen" ]; then
  fail "dht-server did not start: $(cat "$dir/dht-server.err")"
else
  "$node" run --bootstrap "$listen" --peerstore "$dir/b.peers" --json >"$dir/b1.out" 2>&1 &
  b_pid=$!
  wait_file "$dir/b1.out" '"event":"dht".*"routing_table":[1-9]' && ok "peerstore-first-run-joins" ||
    fail "peerstore: the first run did not join: $(cat "$dir/b1.out")"
  stop_pid "$b_pid" TERM
  [ -s "$dir/b.peers" ] && ok "peerstore-saved-at-exit" || fail "peerstore: no file after exit"
  "$node" run --peerstore "$dir/b.peers" --dht auto --json >"$dir/b2.out" 2>&1 &
  b_pid=$!
  wait_file "$dir/b2.out" '"event":"dht".*"routing_table":[1-9]' &&
    ok "peerstore-restart-joins-without-bootstrap" ||
    fail "peerstore: the restarted node did not find the DHT: $(cat "$dir/b2.out")"
  stop_pid "$b_pid" TERM
  stop_node TERM
fi
printf 'not a peer store' >"$dir/bad.peers"
start_node bad-peerstore --peerstore "$dir/bad.peers"
[ -n "$listen" ] && ok "run-starts-with-a-corrupt-peerstore" ||
  fail "a corrupt peer store file stopped bb-node run: $(cat "$dir/bad-peerstore.err")"
stop_node TERM

exit $((fails > 0))
