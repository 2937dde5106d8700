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

# bb-node send: exits 0 once a running node has the message, and the node prints it.
expect send-needs-p2p 2 "has no /p2p/" -- "$node" send /ip4/127.0.0.1/tcp/1 --data x
expect send-unreachable 1 "cannot reach" -- \
  "$node" send "/ip4/127.0.0.1/tcp/1/p2p/$id" --data x --timeout-ms 3000
# The node's output is read line by line as it comes, each read bounded in time.
coproc RUN { exec "$node" run --key "$dir/node.key" --channel chat --json 2>&1; }
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
fi
kill -INT "$run_pid" 2>/dev/null
wait "$run_pid" 2>/dev/null

exit $((fails > 0))
