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

exit $((fails > 0))
