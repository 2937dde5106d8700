#!/usr/bin/env bash
# bb-node run --metrics, checked by Prometheus's own tools: the page passes `promtool check
# metrics`, and a real Prometheus scrapes it (up == 1) and sees the connection a second node
# makes; bad --metrics addresses are exit 2, a port in use exit 1. Skips (exit 77) the
# Prometheus part when it is not installed (Debian package `prometheus`).
# Every wait is bounded; the whole run normally takes a few seconds.
set -u
node=$1
prometheus=${PROMETHEUS:-/usr/bin/prometheus}
promtool=${PROMTOOL:-/usr/bin/promtool}
dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  for f in "$dir"/*.log; do
    [ -f "$f" ] && { echo "--- $(basename "$f") (last lines)"; tail -n 20 "$f"; }
  done
  exit 1
}

# GET http://HOST:PORT/PATH with bash's /dev/tcp; the body on stdout. Bounded by 5 s.
fetch() {
  local host=$1 port=$2 path=$3 fd response
  exec {fd}<>"/dev/tcp/$host/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$path" "$host" "$port" >&"$fd"
  response=$(timeout 5 cat <&"$fd")
  exec {fd}>&-
  [[ "$response" == "HTTP/1."?" 200 "* ]] || return 1
  # The body: everything after the first empty line.
  printf '%s\n' "$response" | sed '1,/^\r\{0,1\}$/d'
}

# Bad --metrics addresses are usage errors (exit 2), before any node starts.
expect_exit() {  # expect_exit NAME STATUS STDERR_REGEX CMD...
  local name=$1 want=$2 pattern=$3 err status
  shift 3
  err=$(timeout 20 "$@" 2>&1 >/dev/null)
  status=$?
  [ "$status" -eq "$want" ] || fail "$name: exit $status, want $want (stderr: $err)"
  grep -qE -e "$pattern" <<<"$err" || fail "$name: stderr '$err' does not match '$pattern'"
  echo "ok   $name"
}
expect_exit metrics-bad-multiaddr 2 "'/ip4/999.0.0.1/tcp/1' is not a multiaddr" \
  "$node" run --metrics /ip4/999.0.0.1/tcp/1
expect_exit metrics-not-tcp 2 "--metrics /dns4/localhost/tcp/1: need /ip4/<addr>/tcp/<port>" \
  "$node" run --metrics /dns4/localhost/tcp/1

# The first node: its listen address and metrics URL are the first lines it prints.
"$node" run --listen /ip4/127.0.0.1/tcp/0 --metrics /ip4/127.0.0.1/tcp/0 >"$dir/a.log" 2>&1 &
pids+=($!)
listen= url=
for _ in $(seq 100); do  # at most 10 s
  listen=$(sed -n 's/^listening \(.*\/p2p\/.*\)$/\1/p' "$dir/a.log" | head -n 1)
  url=$(sed -n 's/^metrics \(http:\/\/.*\)$/\1/p' "$dir/a.log" | head -n 1)
  [ -n "$listen" ] && [ -n "$url" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "bb-node run exited"
  sleep 0.1
done
[ -n "$url" ] || fail "no 'metrics http://...' line from bb-node run within 10 s"
echo "ok   bb-node serves $url (node at $listen)"
[[ "$url" =~ ^http://127\.0\.0\.1:([0-9]+)/metrics$ ]] || fail "unexpected metrics URL '$url'"
metrics_port=${BASH_REMATCH[1]}

# The same port again: a clear error, exit 1.
expect_exit metrics-port-taken 1 "cannot serve metrics on /ip4/127.0.0.1/tcp/$metrics_port: bind: Address already in use" \
  "$node" run --metrics "/ip4/127.0.0.1/tcp/$metrics_port"

fetch 127.0.0.1 "$metrics_port" /metrics >"$dir/page.txt" || fail "GET $url failed"
grep -q '^bb_build_info{version="[^"]*"} 1$' "$dir/page.txt" || fail "no bb_build_info in the page"
if [ ! -x "$promtool" ]; then
  echo "SKIP: $promtool is missing (install Debian's prometheus package)"
  exit 77
fi
lint=$("$promtool" check metrics <"$dir/page.txt" 2>&1)
status=$?
if [ "$status" -ne 0 ] || [ -n "$lint" ]; then
  echo "$lint"
  fail "promtool check metrics: exit $status"
fi
echo "ok   promtool check metrics: no problems ($(grep -c -v '^#' "$dir/page.txt") samples)"

if [ ! -x "$prometheus" ]; then
  echo "SKIP: $prometheus is missing (install Debian's prometheus package)"
  exit 77
fi

# Prometheus on a free port: a port nobody listens on is tried, and another if Prometheus
# cannot bind it after all (someone took it in between).
started=
for attempt in 1 2 3 4 5; do
  web_port=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$web_port") 2>/dev/null && continue  # taken
  cat >"$dir/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: bb
    static_configs:
      - targets: ['127.0.0.1:$metrics_port']
YAML
  rm -rf "$dir/tsdb"
  "$prometheus" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
    --web.listen-address="127.0.0.1:$web_port" >"$dir/prometheus.log" 2>&1 &
  prom_pid=$!
  for _ in $(seq 150); do  # at most 15 s to be ready
    if ! kill -0 "$prom_pid" 2>/dev/null; then break; fi
    if fetch 127.0.0.1 "$web_port" /-/ready >/dev/null 2>&1; then
      started=yes
      break
    fi
    sleep 0.1
  done
  if [ -n "$started" ]; then
    pids+=("$prom_pid")
    break
  fi
  kill "$prom_pid" 2>/dev/null
  wait "$prom_pid" 2>/dev/null
  grep -q "address already in use" "$dir/prometheus.log" || fail "prometheus did not start"
  echo "port $web_port taken, trying another"
done
[ -n "$started" ] || fail "prometheus did not start on any of 5 ports"
echo "ok   prometheus ready on 127.0.0.1:$web_port"

# A second node connects to the first, which then has one inbound connection.
"$node" run --listen /ip4/127.0.0.1/tcp/0 --connect "$listen" >"$dir/b.log" 2>&1 &
pids+=($!)

# The value of an instant query's first result, or empty.
query() {
  fetch 127.0.0.1 "$web_port" "/api/v1/query?query=$1" 2>/dev/null |
    grep -o '"value":\[[^]]*\]' | head -n 1 | sed 's/.*,"\([^"]*\)"\]$/\1/'
}

deadline=$((SECONDS + 60))
up= connections=
while [ "$SECONDS" -lt "$deadline" ]; do
  up=$(query 'up%7Bjob%3D%22bb%22%7D')
  connections=$(query 'sum(bb_connections%7Bjob%3D%22bb%22%7D)')
  if [ "$up" = 1 ] && [ -n "$connections" ] && [ "$connections" -ge 1 ] 2>/dev/null; then
    break
  fi
  sleep 0.5
done
[ "$up" = 1 ] || fail "up{job=\"bb\"} is '$up', not 1, after 60 s"
[ -n "$connections" ] && [ "$connections" -ge 1 ] 2>/dev/null ||
  fail "sum(bb_connections) is '$connections', not >= 1, after 60 s"
echo "ok   prometheus scraped the node: up=1, sum(bb_connections)=$connections"
handshakes=$(query 'bb_handshake_duration_seconds_count%7Bjob%3D%22bb%22%7D')
[ -n "$handshakes" ] && [ "$handshakes" -ge 1 ] 2>/dev/null ||
  fail "bb_handshake_duration_seconds_count is '$handshakes'"
echo "ok   bb_handshake_duration_seconds_count=$handshakes"
echo "PASS"
