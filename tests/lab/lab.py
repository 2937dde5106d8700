#!/usr/bin/env python3
"""bb's network lab: many bb-node hosts on one machine, each in its own Linux network namespace,
joined by veth pairs to a bridge inside a hub namespace (nothing in the root namespace changes).

Scenarios (docs/lab.md): bootstrap-join, relay (latency and loss from tests/lab/relay.py),
partition-heal, bandwidth (tc tbf on one node's link), kill-restart (SIGKILL and restart with
the same key and address). Each check prints PASS or FAIL with its figures; the last line is a
JSON summary. Exit status: 0 all passed (or skipped), 1 a check failed, 2 bad usage or a broken
setup, 77 skipped while --require was given.

Run as root (or with CAP_NET_ADMIN and CAP_SYS_ADMIN): tests/lab/lab.py --nodes 20.
Python 3 standard library only.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOPIC = "lab"
NODE_PORT = 4001
METRICS_PORT = 9100
HUB_IP = "10.77.255.254"
PREFIX_LEN = 16
SETTLE_S = 8.0  # bootstrap-join's observation window after the last new connection
SETTLE_BOUND_S = 20.0
BURST_BYTES = 5000  # the tbf bucket of the bandwidth scenario
EXIT_FAIL = 1
EXIT_SETUP = 2
EXIT_SKIPPED_REQUIRED = 77
SCENARIOS = ["bootstrap-join", "relay", "partition-heal", "bandwidth", "kill-restart"]
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def log(msg):
    print(msg, flush=True)


def node_ip(i):
    return "10.77.%d.%d" % (i // 200, i % 200 + 1)


def node_mac(i):
    """A fixed, locally administered MAC per node (-1: the hub's br0, -2: br1)."""
    v = i & 0xffff
    return "02:77:00:%02x:%02x:%02x" % (0xff if i < 0 else 0, v >> 8, v & 0xff)


class SetupError(Exception):
    """The lab could not be built or driven (not a check that failed)."""


class Skip(Exception):
    """Namespaces are unavailable here."""


class Deadline:
    """The run's overall bound (--timeout-s): every wait is cut to what is left of it."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def bound(self, seconds):
        return max(0.0, min(seconds, self.left()))


# ---------------------------------------------------------------------------------------------
# Processes and their JSON lines


class JsonProcess:
    """A process whose stdout carries one JSON object per line, read by a thread; stderr goes to
    a file. Waiters block on a condition with a deadline, never on a fixed sleep."""

    def __init__(self, name, argv, stderr_path, env=None):
        self.name = name
        self.argv = argv
        self.events = []
        self.bad_lines = []
        self.cv = threading.Condition()
        self.eof = False
        self.stderr_file = open(stderr_path, "ab")
        self.stdout_copy = open(stderr_path.rsplit(".", 1)[0] + ".jsonl", "ab")
        self.stderr_path = stderr_path
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, start_new_session=True, env=env)
        self.thread = threading.Thread(target=self._read, name="reader-" + name, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            now = time.monotonic()
            self.stdout_copy.write(raw)
            try:
                e = json.loads(raw)
                if not isinstance(e, dict):
                    raise ValueError("not an object")
            except ValueError:
                with self.cv:
                    self.bad_lines.append(raw[:200])
                continue
            e["_t"] = now
            with self.cv:
                self.events.append(e)
                self.cv.notify_all()
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def wait_for(self, pred, timeout):
        """The first event (in order) that satisfies pred, or None when the time is up or the
        output ended without one."""
        end = time.monotonic() + timeout
        with self.cv:
            checked = 0
            while True:
                for e in self.events[checked:]:
                    if pred(e):
                        return e
                checked = len(self.events)
                left = end - time.monotonic()
                if left <= 0 or self.eof:
                    return None
                self.cv.wait(left)

    def snapshot(self):
        with self.cv:
            return list(self.events)

    def alive(self):
        return self.proc.poll() is None

    def stderr_tail(self, n=3):
        try:
            with open(self.stderr_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").strip().splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return ""

    def terminate(self):
        if self.alive():
            try:
                self.proc.terminate()
            except ProcessLookupError:
                pass

    def kill(self):
        if self.alive():
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    def reap(self, timeout):
        try:
            return self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        self.thread.join(timeout=2)
        self.stderr_file.close()
        self.stdout_copy.close()


class Node:
    """One bb-node run in its own namespace. Its processes (one per start) keep their events, so
    a check can count a message over a restart."""

    def __init__(self, lab, index):
        self.lab = lab
        self.index = index
        self.ns = "%s-%d" % (lab.prefix, index)
        self.ip = node_ip(index)
        self.key = os.path.join(lab.tmp, "node%d.key" % index)
        self.peer = None
        self.port_name = "p%d" % index  # its veth's end in the hub namespace
        self.procs = []

    @property
    def addr(self):
        return "/ip4/%s/tcp/%d/p2p/%s" % (self.ip, NODE_PORT, self.peer)

    @property
    def proc(self):
        return self.procs[-1] if self.procs else None

    def start(self, args):
        argv = ["ip", "netns", "exec", self.ns, self.lab.bb_node, "run", "--json",
                "--key", self.key,
                "--listen", "/ip4/%s/tcp/%d" % (self.ip, NODE_PORT),
                "--topic", TOPIC,
                "--max-memory", str(self.lab.max_memory),
                "--metrics", "/ip4/%s/tcp/%d" % (self.ip, METRICS_PORT),
                "--serve-perf"] + args
        name = "node%d.%d" % (self.index, len(self.procs))
        env = None
        if self.lab.args.node_log:
            env = dict(os.environ, BB_LOG=self.lab.args.node_log)
        p = JsonProcess(name, argv, os.path.join(self.lab.tmp, name + ".stderr"), env=env)
        self.procs.append(p)
        self.lab.processes.append(p)
        return p

    def events(self, kind=None):
        out = []
        for p in self.procs:
            out.extend(e for e in p.snapshot() if kind is None or e.get("event") == kind)
        return out

    def pubsub_count(self, data):
        return sum(1 for e in self.events("pubsub") if e.get("data") == data)

    def message_count(self, payload):
        return sum(1 for e in self.events("message") if e.get("payload") == payload)

    def pubsub_time(self, data):
        for e in self.events("pubsub"):
            if e.get("data") == data:
                return e["_t"]
        return None


# ---------------------------------------------------------------------------------------------
# Results


class Results:
    def __init__(self):
        self.scenarios = {}
        self.current = None

    def begin(self, name):
        self.current = name
        self.scenarios[name] = "pass"
        log("== %s" % name)

    def check(self, name, ok, detail):
        log("%s %s/%s: %s" % ("PASS" if ok else "FAIL", self.current, name, detail))
        if not ok:
            self.scenarios[self.current] = "fail"
        return ok

    def skip(self, reason):
        log("SKIP %s: %s" % (self.current, reason))
        self.scenarios[self.current] = "skipped"

    def info(self, detail):
        log("     %s: %s" % (self.current, detail))

    def failed(self):
        return any(v == "fail" for v in self.scenarios.values())


# ---------------------------------------------------------------------------------------------
# The lab


class Lab:
    def __init__(self, args):
        self.args = args
        self.bb_node = args.bb_node
        self.pid = os.getpid()
        self.prefix = "bblab%d" % self.pid
        self.hub = self.prefix + "-hub"
        self.namespaces = []
        self.processes = []  # every JsonProcess started, to stop at the end
        self.tools = []  # transient commands started by start_tool, killed if still running
        self.tmp = tempfile.mkdtemp(prefix="bblab%d-" % self.pid)
        self.nodes = []
        self.extra_ns = None  # a namespace for the relay's client node
        self.rng = random.Random(args.seed)
        self.max_memory = args.max_memory
        self.deadline = Deadline(args.timeout_s)
        self.results = Results()
        self.counter = 0
        self.marks = {}
        # Impairments that ended: (pairs(i, j), when their links were whole again). A verdict of
        # a later scenario whose silence began before that time is the impairment's, not a
        # false down (e.g. a ping held in a 1 Mbit/s queue, or a TCP retransmission backed off
        # while the partition lasted, arrives after the limit is gone).
        self.restored = []

    # -- commands ----------------------------------------------------------------------------

    def ip(self, *argv, ns=None, check=True):
        cmd = ["ip"] + (["-n", ns] if ns else []) + list(argv)
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=30)
        if check and r.returncode != 0:
            raise SetupError("`%s` failed (status %d): %s"
                             % (" ".join(cmd), r.returncode, r.stderr.strip()))
        return r

    def in_ns(self, ns, argv):
        return ["ip", "netns", "exec", ns] + argv

    def run_tool(self, ns, argv, timeout):
        """A transient bb-node command in a namespace: (status, JSON lines, stderr)."""
        cmd = self.in_ns(ns, [self.bb_node] + argv)
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=self.deadline.bound(timeout) + 1)
        except subprocess.TimeoutExpired:
            return None, [], "no exit within %.0f s" % timeout
        return r.returncode, parse_lines(r.stdout), r.stderr.strip()

    def start_tool(self, ns, argv):
        cmd = self.in_ns(ns, [self.bb_node] + argv)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.tools.append(p)
        return p

    def finish_tools(self, procs, timeout):
        """Waits for transient commands started together: [(status, lines, stderr)]."""
        end = time.monotonic() + self.deadline.bound(timeout) + 1
        out = []
        for p in procs:
            try:
                so, se = p.communicate(timeout=max(0.1, end - time.monotonic()))
                out.append((p.returncode, parse_lines(so), se.strip()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                out.append((None, [], "no exit within %.0f s" % timeout))
        return out

    def token(self, what):
        self.counter += 1
        return "lab-%d-%s-%d" % (self.pid, what, self.counter)

    # -- namespaces ---------------------------------------------------------------------------

    def probe(self):
        """Raises Skip when namespaces cannot be made here."""
        if shutil.which("ip") is None:
            raise Skip("no `ip` command (iproute2)")
        if hasattr(os, "geteuid") and os.geteuid() != 0:
            raise Skip("not root (network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN)")
        r = subprocess.run(["ip", "netns", "add", self.hub], capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip("`ip netns add` failed: %s" % (r.stderr.strip() or "status %d"
                                                       % r.returncode))
        self.namespaces.append(self.hub)

    def batch(self, ns, lines):
        """`ip -n NS -batch -`: many commands in one process."""
        cmd = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
        r = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise SetupError("`%s` failed (status %d): %s"
                             % (" ".join(cmd), r.returncode, r.stderr.strip()))

    def build(self, n):
        """The hub namespace with bridges br0 and br1 (br1 holds one side of a partition), and
        n + 1 node namespaces (the last one is the relay's client), each with eth0 on br0.

        Every namespace gets a permanent neighbour entry for every other address: this kernel's
        neighbour table is one for all namespaces, bounded by the root namespace's gc_thresh3
        (1024 here), and 51 namespaces that each learn 50 neighbours by ARP overflow it: new
        connections then fail ("neighbor table overflow" in dmesg). Permanent entries do not
        count against that bound, and the lab changes nothing in the root namespace."""
        t0 = time.monotonic()
        hub = self.hub
        count = n + 1
        hub_cmds = ["link set lo up"]
        for br in ("br0", "br1"):
            hub_cmds += ["link add %s address %s type bridge" % (br, node_mac(-1 if br == "br0"
                                                                             else -2)),
                         "link set %s up" % br]
        hub_cmds.append("addr add %s/%d dev br0" % (HUB_IP, PREFIX_LEN))
        for i in range(count):
            ns = "%s-%d" % (self.prefix, i)
            self.ip("netns", "add", ns)
            self.namespaces.append(ns)
            hub_cmds += ["link add p%d type veth peer name eth0 address %s netns %s"
                         % (i, node_mac(i), ns),
                         "link set p%d master br0" % i,
                         "link set p%d up" % i]
        hub_cmds += ["neigh replace %s lladdr %s dev br0 nud permanent" % (node_ip(i),
                                                                           node_mac(i))
                     for i in range(count)]
        self.batch(hub, hub_cmds)
        for i in range(count):
            ns = "%s-%d" % (self.prefix, i)
            cmds = ["addr add %s/%d dev eth0" % (node_ip(i), PREFIX_LEN),
                    "link set eth0 up", "link set lo up",
                    "neigh replace %s lladdr %s dev eth0 nud permanent" % (HUB_IP,
                                                                           node_mac(-1))]
            cmds += ["neigh replace %s lladdr %s dev eth0 nud permanent" % (node_ip(j),
                                                                            node_mac(j))
                     for j in range(count) if j != i]
            self.batch(ns, cmds)
            if i < n:
                self.nodes.append(Node(self, i))
        self.extra_ns = "%s-%d" % (self.prefix, n)
        log("lab: %d namespaces (+ hub %s) on bridge br0 in %.1f s"
            % (count, hub, time.monotonic() - t0))

    def keygen(self):
        procs = [subprocess.Popen([self.bb_node, "keygen", "--out", nd.key, "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for nd in self.nodes]
        for nd, p in zip(self.nodes, procs):
            so, se = p.communicate(timeout=30)
            lines = parse_lines(so)
            keys = [e for e in lines if e.get("event") == "key"]
            if p.returncode != 0 or not keys:
                raise SetupError("bb-node keygen %s failed (status %s): %s"
                                 % (nd.key, p.returncode, se.strip()))
            nd.peer = keys[0]["peer"]

    def keygen_one(self, path):
        r = subprocess.run([self.bb_node, "keygen", "--out", path, "--json"],
                           capture_output=True, text=True, timeout=30)
        keys = [e for e in parse_lines(r.stdout) if e.get("event") == "key"]
        if r.returncode != 0 or not keys:
            raise SetupError("bb-node keygen --out %s failed (status %d): %s"
                             % (path, r.returncode, r.stderr.strip()))
        return keys[0]["peer"]

    def cleanup(self):
        # Nothing may interrupt this: a second Ctrl-C would leave namespaces behind.
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            for t in self.tools:
                if t.poll() is None:
                    t.kill()
                    try:
                        t.communicate(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
            for p in self.processes:
                p.terminate()
            end = time.monotonic() + 6
            for p in self.processes:
                if p.reap(end - time.monotonic()) is None:
                    p.kill()
                    p.reap(2)
            for p in self.processes:
                p.close()
            if self.args.keep:
                log("lab: --keep: namespaces %s-* left in place (remove them with `ip netns del`);"
                    " keys and each process's .jsonl and .stderr in %s" % (self.prefix, self.tmp))
                return
            for ns in reversed(self.namespaces):
                d = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True)
                if d.returncode != 0:
                    log("lab: warning: `ip netns del %s` failed: %s" % (ns, d.stderr.strip()))
            shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, old)
            signal.signal(signal.SIGTERM, old_term)

    # -- the network of nodes ----------------------------------------------------------------

    def node_args(self, nd):
        if nd.index == 0:
            return ["--dht", "server"]
        return ["--bootstrap", self.nodes[0].addr, "--min-connections", str(self.args.min_conn)]

    def start_nodes(self, nodes):
        for nd in nodes:
            nd.start(self.node_args(nd))

    def wait_started(self, nodes, timeout, what):
        """Waits for every node's listening and dht lines; the ones that did not come."""
        end = time.monotonic() + self.deadline.bound(timeout)
        missing = []
        for nd in nodes:
            p = nd.proc
            ok = p.wait_for(lambda e: e.get("event") == "listening", end - time.monotonic())
            ok = ok and p.wait_for(lambda e: e.get("event") == "dht", end - time.monotonic())
            if not ok:
                missing.append("node%d (%s)" % (nd.index, describe_exit(p)))
        if missing:
            log("lab: %s: no listening+dht line within %.0f s from %s"
                % (what, timeout, ", ".join(missing)))
        return missing

    # -- operations ---------------------------------------------------------------------------

    def publish(self, via, data):
        """A transient `bb-node publish` in via's namespace, connected to via: (ok, detail)."""
        status, lines, err = self.run_tool(
            via.ns, ["publish", "--json", "--topic", TOPIC, "--data", data, "--connect", via.addr,
                     "--timeout-ms", "10000"], 15)
        pub = [e for e in lines if e.get("event") == "published"]
        if status == 0 and pub:
            return True, "published via node%d to %d recipients" % (via.index,
                                                                     pub[0]["recipients"])
        return False, "publish via node%d failed (status %s): %s" % (via.index, status,
                                                                     error_text(lines, err))

    def wait_pubsub(self, data, nodes, timeout, since=None):
        """Waits until every node in `nodes` printed the pubsub line with `data`; the ones that
        did not, and when the last one did, in seconds after `since` (default: now)."""
        t0 = time.monotonic()
        end = t0 + self.deadline.bound(timeout)
        if since is not None:
            t0 = since
        missing = []
        last = t0
        for nd in nodes:
            p = nd.proc
            e = p.wait_for(lambda e: e.get("event") == "pubsub" and e.get("data") == data,
                           end - time.monotonic())
            if e is None and nd.pubsub_count(data) == 0:
                missing.append(nd.index)
            else:
                t = nd.pubsub_time(data)
                last = max(last, t if t is not None else last)
        return missing, last - t0

    def publish_and_check(self, name, via, reach, avoid=(), timeout=20.0):
        """Publishes one message via `via`; checks it reaches every node of `reach`, exactly
        once, and none of `avoid`."""
        data = self.token(name)
        t0 = time.monotonic()
        ok, detail = self.publish(via, data)
        if not self.results.check(name + " publish", ok, detail):
            return data
        missing, took = self.wait_pubsub(data, reach, timeout, since=t0)
        self.results.check(
            name + " reach", not missing,
            "%d/%d nodes got it within %.2f s of the publish command's start%s"
            % (len(reach) - len(missing), len(reach), took,
               ("; missing nodes %s" % missing) if missing else ""))
        dups = [(nd.index, nd.pubsub_count(data)) for nd in reach if nd.pubsub_count(data) > 1]
        self.results.check(name + " once", not dups,
                           "no node printed it twice" if not dups
                           else "printed more than once (node, count): %s" % dups)
        if avoid:
            leaked = [nd.index for nd in avoid if nd.pubsub_count(data) > 0]
            self.results.check(name + " isolated", not leaked,
                               "none of the %d nodes across the partition got it" % len(avoid)
                               if not leaked else "nodes across the partition got it: %s"
                               % leaked)
        return data

    def sends(self, name, pairs, timeout_ms=8000):
        """Direct /bb/wire messages, `bb-node send` from a namespace to a node, all at once; then
        checks each one reported delivered arrived exactly once, and a failed one at most
        once."""
        jobs = []
        for src_ns, dst in pairs:
            data = self.token(name + "-send")
            p = self.start_tool(src_ns, ["send", dst.addr, "--channel", "default", "--data",
                                         data, "--json", "--timeout-ms", str(timeout_ms)])
            jobs.append((p, dst, data))
        outcomes = self.finish_tools([j[0] for j in jobs], timeout_ms / 1000.0 + 5)
        delivered, failed, wrong = 0, [], []
        for (p, dst, data), (status, lines, err) in zip(jobs, outcomes):
            ok = status == 0 and any(e.get("event") == "delivered" for e in lines)
            if ok:
                delivered += 1
                # The receipt comes after the node took it: its line is printed or on its way.
                dst.proc.wait_for(lambda e: e.get("event") == "message"
                                  and e.get("payload") == data, self.deadline.bound(5))
                n = dst.message_count(data)
                if n != 1:
                    wrong.append("node%d printed delivered message %s %d times"
                                 % (dst.index, data, n))
            else:
                failed.append("to node%d: status %s, %s" % (dst.index, status,
                                                            error_text(lines, err)))
                n = dst.message_count(data)
                if n > 1:
                    wrong.append("node%d printed failed message %s %d times"
                                 % (dst.index, data, n))
        self.results.check(name + " sends", not wrong and not failed,
                           "%d/%d delivered exactly once%s%s"
                           % (delivered, len(jobs),
                              ("; failed: " + "; ".join(failed)) if failed else "",
                              ("; " + "; ".join(wrong)) if wrong else ""))
        return delivered, failed

    def scrape(self, nodes):
        """Every node's metrics, read from the hub namespace (one process fetches them all):
        {index: text or None}."""
        urls = {nd.index: "http://%s:%d/metrics" % (nd.ip, METRICS_PORT) for nd in nodes}
        script = (
            "import json,sys,threading,time,urllib.request\n"
            "out={}\n"
            "def get(k,u):\n"
            "  t=time.monotonic()\n"
            "  try: out[k]=urllib.request.urlopen(u,timeout=5).read().decode()\n"
            "  except Exception as e: out[k]='error: %s after %.1f s' % (e, time.monotonic()-t)\n"
            "ts=[threading.Thread(target=get,args=kv) for kv in json.loads(sys.argv[1]).items()]\n"
            "for t in ts: t.start()\n"
            "for t in ts: t.join()\n"
            "print(json.dumps(out))\n")
        try:
            r = subprocess.run(self.in_ns(self.hub, [sys.executable, "-c", script,
                                                     json.dumps(urls)]),
                               capture_output=True, text=True, timeout=30)
            got = json.loads(r.stdout)
        except (subprocess.TimeoutExpired, ValueError) as e:
            log("lab: the metrics scrape failed: %s" % e)
            return {nd.index: None for nd in nodes}
        return {int(k): v for k, v in got.items()}

    def check_memory(self, nodes):
        """bb_resource_used <= bb_resource_limit (system scope, memory) on every node, and the
        nodes' RSS from /proc for the record."""
        texts = self.scrape(nodes)
        over, unread, used_max, rss = [], [], 0, []
        for nd in nodes:
            text = texts.get(nd.index)
            if text is not None and text.startswith("error: "):
                unread.append("node%d (%s)" % (nd.index, text[7:]))
                continue
            used = metric(text, "bb_resource_used", scope="system", resource="memory")
            limit = metric(text, "bb_resource_limit", scope="system", resource="memory")
            if used is None or limit is None:
                unread.append("node%d (no bb_resource_used/limit memory lines)" % nd.index)
                continue
            used_max = max(used_max, used)
            if used > limit:
                over.append("node%d %d > %d" % (nd.index, used, limit))
            r = rss_bytes(nd.proc.proc.pid)
            if r is not None:
                rss.append(r)
        self.results.check(
            "memory", not over and not unread,
            "bb_resource_used{scope=system,resource=memory} <= limit %d on %d nodes; max used "
            "%d B; RSS max %.1f MiB, median %.1f MiB%s%s"
            % (self.max_memory, len(nodes) - len(unread), used_max,
               max(rss) / 2**20 if rss else 0, statistics.median(rss) / 2**20 if rss else 0,
               ("; over: " + ", ".join(over)) if over else "",
               ("; metrics unreadable from %s" % ", ".join(unread)) if unread else ""))

    def check_alive(self, nodes):
        dead = ["node%d (%s)" % (nd.index, describe_exit(nd.proc)) for nd in nodes
                if not nd.proc.alive()]
        self.results.check("alive", not dead, "all %d nodes running" % len(nodes) if not dead
                           else "exited: " + ", ".join(dead))

    def mark_scenario(self):
        """Where each process's lines stood when the scenario began."""
        self.marks = {id(p): len(p.snapshot()) for nd in self.nodes for p in nd.procs}

    def check_false_down(self, excused):
        """The failure detector (health down, cause phi) may call a peer down only when the
        scenario cut or slowed their link: excused(i, j) says which pairs it did; or when the
        peer's silence (silent_ms, printed with the verdict) began while an earlier scenario's
        impairment of that link lasted."""
        index = {nd.peer: nd.index for nd in self.nodes}

        def impaired_then(i, j, e):
            began = e["_t"] - float(e.get("silent_ms", 0)) / 1000.0
            return any(pairs(i, j) and began < until for pairs, until in self.restored)

        wrong, earlier = [], 0
        for nd in self.nodes:
            for p in nd.procs:
                lines = p.snapshot()
                for k in range(self.marks.get(id(p), 0), len(lines)):
                    e = lines[k]
                    if e.get("event") != "health" or e.get("state") != "down" \
                            or e.get("cause") != "phi" or e.get("peer") not in index:
                        continue
                    j = index[e["peer"]]
                    if excused(nd.index, j):
                        continue
                    if impaired_then(nd.index, j, e):
                        earlier += 1
                        continue
                    ups = [x for x in lines[:k] if x.get("peer") == e["peer"]
                           and x.get("event") in ("peer_up", "peer_down")]
                    since = ""
                    if ups and ups[-1].get("event") == "peer_up":
                        since = ", %.1f s after its connection came up (%s)" % (
                            e["_t"] - ups[-1]["_t"], " ".join(
                                x.get("direction", "down") for x in ups))
                    wrong.append("node%d called node%d down at %s%s, silent %s ms"
                                 % (nd.index, j, e.get("ts"), since, e.get("silent_ms", "?")))
        if earlier:
            self.results.info("%d down verdicts on links whose silence began during an earlier "
                              "scenario's impairment (not counted)" % earlier)
        self.results.check("no false down", not wrong,
                           "no node called a peer down whose link was not cut" if not wrong
                           else "%d: %s" % (len(wrong), "; ".join(wrong[:8])))

    def end_checks(self, nodes=None, excused=lambda i, j: False):
        nodes = nodes if nodes is not None else self.nodes
        self.check_alive(nodes)
        self.check_memory([nd for nd in nodes if nd.proc.alive()])
        self.check_false_down(excused)

    def find_peers(self, name, targets, bootstrap_nodes, timeout_ms=15000):
        """`bb-node dht find-peer` for each target, from a transient client in another node's
        namespace, bootstrapped through one of `bootstrap_nodes`; all at once."""
        jobs = []
        for t in targets:
            others = [nd for nd in bootstrap_nodes if nd is not t]
            boot = self.rng.choice(others)
            where = self.rng.choice([nd for nd in self.nodes if nd is not t])
            argv = ["dht", "find-peer", t.peer, "--bootstrap", boot.addr, "--listen",
                    "/ip4/%s/tcp/0" % where.ip, "--json", "--timeout-ms", str(timeout_ms)]
            jobs.append((t, self.start_tool(where.ns, argv)))
        outcomes = self.finish_tools([j[1] for j in jobs], timeout_ms / 1000.0 + 8)
        found, bad = 0, []
        for (t, _), (status, lines, err) in zip(jobs, outcomes):
            peers = [e for e in lines if e.get("event") == "peer"]
            want = "/ip4/%s/tcp/%d" % (t.ip, NODE_PORT)
            if status == 0 and peers and any(a.startswith(want) for a in peers[0]["addrs"]):
                found += 1
            else:
                bad.append("node%d: %s" % (t.index, error_text(lines, err) if status != 0
                                           else "addrs %s lack %s"
                                           % (peers[0]["addrs"] if peers else [], want)))
        self.results.check(name, not bad, "%d/%d found with their address%s"
                           % (found, len(targets), ("; not: " + "; ".join(bad)) if bad else ""))

    # -- scenarios ----------------------------------------------------------------------------

    def scenario_bootstrap_join(self):
        r = self.results
        joined = [nd for nd in self.nodes[1:]]
        tables = []
        for nd in joined:
            e = nd.proc.wait_for(lambda e: e.get("event") == "dht", self.deadline.bound(5))
            tables.append(e["routing_table"] if e else 0)
        empty = [nd.index for nd, t in zip(joined, tables) if t == 0]
        r.check("dht joined", not empty,
                "%d nodes joined through node0 alone; routing table min %d, median %d, max %d%s"
                % (len(joined), min(tables), statistics.median(tables), max(tables),
                   ("; empty on nodes %s" % empty) if empty else ""))
        # Gossipsub: every node learns subscribers and forms a mesh.
        end = time.monotonic() + self.deadline.bound(20)
        no_mesh = []
        for nd in self.nodes:
            if not nd.proc.wait_for(lambda e: e.get("event") == "mesh_peer" and e.get("joined"),
                                    end - time.monotonic()):
                no_mesh.append(nd.index)
        r.check("mesh", not no_mesh, "every node has a mesh peer on '%s'" % TOPIC if not no_mesh
                else "no mesh peer on nodes %s" % no_mesh)
        self.publish_and_check("from-last", self.nodes[-1], self.nodes)
        self.publish_and_check("from-bootstrap", self.nodes[0], self.nodes)
        pairs = [(self.rng.choice(self.nodes).ns, self.rng.choice(self.nodes))
                 for _ in range(5)]
        self.sends("join", pairs)
        sample = self.rng.sample(self.nodes[1:], min(4, len(self.nodes) - 1))
        self.find_peers("find-peer", sample, self.nodes)
        self.settle()
        self.end_checks()

    def settle(self):
        """An observation window, not a synchronisation: lets the failure detector reach its
        first verdict on every connection of the new network (about 6 s after a peer's last
        heartbeat with the default pings and phi thresholds) before *no false down* is checked,
        so that a wrong verdict shows in this scenario rather than the next. It lasts until no
        node has had a new connection for SETTLE_S seconds, within SETTLE_BOUND_S."""
        t0 = time.monotonic()
        end = t0 + self.deadline.bound(SETTLE_BOUND_S)
        quiet = threading.Event()  # never set: its wait is the window
        while True:
            ups = [e["_t"] for nd in self.nodes for e in nd.events("peer_up")]
            due = (max(ups) if ups else t0) + SETTLE_S
            now = time.monotonic()
            if now >= due or now >= end:
                break
            quiet.wait(min(due, end) - now)
        self.results.info("settled %.1f s (until no new connection for %.0f s)"
                          % (time.monotonic() - t0, SETTLE_S))

    def scenario_relay(self):
        r = self.results
        latency, jitter, loss, rto = 40.0, 10.0, 0.05, 200.0
        # The relay forwards to the node with the smallest topic mesh (then the fewest peers): a
        # node whose mesh is at gossipsub's D_hi refuses a newcomer's GRAFT, and one over D_hi
        # prunes down to D at its next heartbeat, keeping a random inbound newcomer with odds
        # of about D/D_hi; a leaf pruned by its only peer is backed off for a minute and gets
        # messages by gossip alone, by chance. In a settled 20-node network every node has all
        # 19 others as peers, so the peer count alone does not tell the nodes apart (seen in a
        # run: the target chosen so pruned the client 85 ms after its GRAFT).
        target = min(self.nodes[1:], key=lambda nd: (len(mesh_peers(nd)),
                                                     len(connected_peers(nd)), nd.index))
        r.info("the relay forwards to node%d (%d peers, %d in its '%s' mesh)"
               % (target.index, len(connected_peers(target)), len(mesh_peers(target)), TOPIC))
        relay = JsonProcess("relay", self.in_ns(self.hub, [
            sys.executable, os.path.join(HERE, "relay.py"), "--listen", "%s:0" % HUB_IP,
            "--target", "%s:%d" % (target.ip, NODE_PORT), "--latency-ms", str(latency),
            "--jitter-ms", str(jitter), "--loss", str(loss), "--rto-ms", str(rto),
            "--seed", str(self.args.seed)]), os.path.join(self.tmp, "relay.stderr"))
        self.processes.append(relay)
        e = relay.wait_for(lambda e: e.get("event") == "listening", self.deadline.bound(10))
        if not r.check("relay up", e is not None,
                       "listening on %s:%s, forwarding to node%d" % (HUB_IP, e["port"],
                                                                     target.index) if e
                       else "the relay printed no listening line (%s)" % describe_exit(relay)):
            return
        via = "/ip4/%s/tcp/%d/p2p/%s" % (HUB_IP, e["port"], target.peer)
        src = self.nodes[-1]
        status, direct, err = self.run_tool(src.ns, ["ping", target.addr, "--count", "10",
                                                     "--json"], 30)
        d_rtt = [x["rtt_ms"] for x in direct if x.get("event") == "ping"]
        status2, relayed, err2 = self.run_tool(src.ns, ["ping", via, "--count", "10", "--json"],
                                               30)
        r_rtt = [x["rtt_ms"] for x in relayed if x.get("event") == "ping"]
        ok = status == 0 and status2 == 0 and len(d_rtt) == 10 and len(r_rtt) == 10
        if not r.check("ping", ok, "direct and relayed pings answered" if ok
                       else "direct: status %s %s; relayed: status %s %s"
                       % (status, error_text(direct, err), status2, error_text(relayed, err2))):
            return
        added = statistics.median(r_rtt) - statistics.median(d_rtt)
        r.check("latency", 2 * latency <= added <= 2 * (latency + jitter + rto) + 50,
                "median RTT direct %.2f ms, through the relay %.2f ms: +%.1f ms (one-way %.0f ms"
                " + up to %.0f ms jitter each way; %.0f%% of chunks held %.0f ms); relayed "
                "min %.1f max %.1f ms"
                % (statistics.median(d_rtt), statistics.median(r_rtt), added, latency, jitter,
                   loss * 100, rto, min(r_rtt), max(r_rtt)))
        # A node whose only peer is the target, through the relay: it gets the topic's messages,
        # later than the target by about the one-way latency.
        x = Node(self, len(self.nodes))
        x.ns = self.extra_ns
        x.key = os.path.join(self.tmp, "relay-client.key")
        x.peer = self.keygen_one(x.key)
        xp = JsonProcess("relay-client", self.in_ns(x.ns, [
            self.bb_node, "run", "--json", "--key", x.key,
            "--listen", "/ip4/%s/tcp/%d" % (x.ip, NODE_PORT), "--topic", TOPIC,
            "--connect", via, "--max-memory", str(self.max_memory)]),
            os.path.join(self.tmp, "relay-client.stderr"))
        x.procs.append(xp)
        self.processes.append(xp)
        # Both ends of the mesh link: a message that the target forwards before X's GRAFT
        # reaches it would not be forwarded to X (nor gossiped: X is then in its mesh).
        meshed = xp.wait_for(lambda e: e.get("event") == "mesh_peer" and e.get("joined"),
                             self.deadline.bound(20))
        meshed = meshed and target.proc.wait_for(
            lambda e: e.get("event") == "mesh_peer" and e.get("joined")
            and e.get("peer") == x.peer, self.deadline.bound(20))
        if not r.check("relay client meshed", bool(meshed),
                       "node%d and the relay client have each other in their meshes on '%s'"
                       % (target.index, TOPIC) if meshed
                       else "no mesh_peer joined lines for the link from both ends within 20 s "
                       "(the client's mesh lines: %s; %s)"
                       % ([(e.get("joined"), e.get("ts")) for e in xp.snapshot()
                           if e.get("event") == "mesh_peer"], describe_exit(xp))):
            xp.terminate()
            return
        lags = []
        for k in range(3):
            data = self.publish_and_check("relayed-%d" % k, self.nodes[-1], self.nodes + [x])
            tx = x.pubsub_time(data)
            t0 = target.pubsub_time(data)
            if tx is not None and t0 is not None:
                lags.append((tx - t0) * 1000)
        if lags:
            # The times are when the lab read each node's line, and a loaded machine delays a
            # line by some milliseconds (the node forwards before it prints): the median lag is
            # held to half the one-way latency. The ping check above is the precise figure.
            r.check("relayed lag", statistics.median(lags) >= latency * 0.5,
                    "the relay client got each message %s ms after node%d (one-way latency "
                    "%.0f ms + jitter up to %.0f ms, a chunk held %.0f ms at %.0f%%)"
                    % ([round(v, 1) for v in lags], target.index, latency, jitter, rto,
                       loss * 100))
        self.sends("relay", [(x.ns, target)] * 3 + [(src.ns, target)])
        # Direct sends through the relay, by the relay's address.
        relay_target = RelayAddr(target, via)
        self.sends("through-relay", [(src.ns, relay_target)] * 3)
        xp.terminate()
        xp.reap(6)
        relay.terminate()
        relay.reap(5)
        closed = [e for e in relay.snapshot() if e.get("event") == "closed"]
        held = sum(e["lost"] for e in closed)
        chunks = sum(e["chunks"] for e in closed)
        r.info("relay: %d connections, %d chunks, %d held as lost (%.1f%%), mean delay per chunk"
               " %s ms" % (len(closed), chunks, held, 100.0 * held / chunks if chunks else 0,
                           [e["mean_delay_ms"] for e in closed]))
        self.end_checks()

    def index_of(self, peer):
        for nd in self.nodes:
            if nd.peer == peer:
                return nd.index
        return -1

    def set_partition(self, group_b, on):
        """Moves group B's bridge ports to br1 (on) or back to br0 (off): two bridges, two
        components, no link down, so each side keeps its own links."""
        for nd in group_b:
            self.ip("link", "set", nd.port_name, "master", "br1" if on else "br0", ns=self.hub)

    def scenario_partition_heal(self):
        r = self.results
        n = len(self.nodes)
        a = self.nodes[: n // 2]
        b = self.nodes[n // 2:]
        ids_a = set(nd.peer for nd in a)
        ids_b = set(nd.peer for nd in b)
        t0 = time.monotonic()
        self.set_partition(b, True)
        r.info("partition: nodes 0-%d | %d-%d (B's ports moved to bridge br1)"
               % (n // 2 - 1, n // 2, n - 1))
        # The nodes notice: every peer across the partition that a node was connected to is
        # called down, by the failure detector (health down) or by its connection closing.
        before = {nd.index: connected_peers(nd) & (ids_b if nd in a else ids_a)
                  for nd in self.nodes}

        def undetected(nd):
            """Peers across the partition that the node neither disconnected nor holds down (its
            last health line about them; a peer it called down before counts as noticed)."""
            state = {}
            for e in nd.proc.snapshot():
                if e.get("event") == "health":
                    state[e.get("peer")] = e.get("state")
            connected = connected_peers(nd)
            return set(p for p in before[nd.index]
                       if p in connected and state.get(p) != "down")

        end = time.monotonic() + self.deadline.bound(self.args.partition_detect_s)
        still = []
        for nd in self.nodes:
            while time.monotonic() < end and undetected(nd):
                # Re-evaluated on each line that may say so, at most 1 s apart.
                wait_next(nd.proc, lambda e: e.get("event") in ("peer_down", "health"),
                          min(1.0, end - time.monotonic()))
            if undetected(nd):
                still.append("node%d: %s" % (nd.index, ", ".join(
                    "node%d (last health line %s)" % (self.index_of(p), last_health(nd, p))
                    for p in sorted(undetected(nd)))))
        took = time.monotonic() - t0
        crossing = sum(len(v) for v in before.values())
        r.check("detected", not still,
                "all %d links across the partition called down within %.1f s" % (crossing, took)
                if not still else "after %.1f s these peers across the partition are not called "
                "down: %s" % (took, "; ".join(still)))
        open_links = sum(len(connected_peers(nd) & (ids_b if nd in a else ids_a))
                         for nd in self.nodes)
        r.info("%d of those %d links are still open (no peer_down) while partitioned"
               % (open_links, crossing))
        # Direct sends across the partition, started now and collected after the publishes:
        # each must fail (no route), and must not arrive after the heal either.
        cross = []
        for src, dst in ((a[1], b[1]), (b[2], a[2])):
            data = self.token("cross-send")
            cross.append((dst, data, self.start_tool(src.ns, [
                "send", dst.addr, "--channel", "default", "--data", data, "--json",
                "--timeout-ms", "3000"])))
        side_a = self.publish_and_check("side-a", a[-1], a, avoid=b, timeout=30)
        side_b = self.publish_and_check("side-b", b[-1], b, avoid=a, timeout=30)
        outcomes = self.finish_tools([c[2] for c in cross], 30)
        cross_bad = []
        for (dst, data, _), (status, lines, err) in zip(cross, outcomes):
            if status == 0:
                cross_bad.append("to node%d: reported delivered" % dst.index)
            elif status is None:
                cross_bad.append("to node%d: %s" % (dst.index, err))
        r.check("cross sends fail", not cross_bad,
                "%d sends across the partition failed: %s" % (len(cross), "; ".join(
                    error_text(lines, err) for status, lines, err in outcomes))
                if not cross_bad else "; ".join(cross_bad))
        t1 = time.monotonic()
        self.set_partition(b, False)
        r.info("healed (B's ports back on br0)")
        sides = set(nd.index for nd in b)
        self.restored.append((lambda i, j: (i in sides) != (j in sides), time.monotonic()))
        # After the heal, a message from A must reach everyone: bounded time for mesh repair.
        # The nodes reconnect by themselves (--min-connections, the DHT); a publish is retried
        # until it reaches all or the bound passes.
        healed_data = None
        end = time.monotonic() + self.deadline.bound(self.args.heal_s)
        attempts = 0
        missing = list(range(n))
        while time.monotonic() < end:
            attempts += 1
            data = self.token("after-heal")
            ok, detail = self.publish(a[0], data)
            if ok:
                missing, _ = self.wait_pubsub(data, self.nodes, min(5, end - time.monotonic()))
                if not missing:
                    healed_data = data
                    break
            else:
                # Before the next attempt: node a[0]'s next peer_up, or 2 s.
                wait_next(a[0].proc, lambda e: e.get("event") == "peer_up",
                          min(2.0, end - time.monotonic()))
        took = time.monotonic() - t1
        r.check("heal", healed_data is not None,
                "a message published %.1f s after the heal reached all %d nodes (attempt %d)"
                % (took, n, attempts) if healed_data else
                "within %.0f s of the heal (%d attempts) no message reached all nodes; last "
                "missing %s" % (self.args.heal_s, attempts, missing))
        if healed_data:
            dups = [nd.index for nd in self.nodes if nd.pubsub_count(healed_data) > 1]
            r.check("heal once", not dups, "no duplicates" if not dups
                    else "printed twice on %s" % dups)
            late = sum(1 for nd in b if nd.pubsub_count(side_a)) + \
                sum(1 for nd in a if nd.pubsub_count(side_b))
            r.info("messages published during the partition reached %d of %d nodes across it "
                   "after the heal (what the open links held)" % (late, n))
        pairs = [(self.rng.choice(a).ns, self.rng.choice(b)) for _ in range(3)] + \
            [(self.rng.choice(b).ns, self.rng.choice(a)) for _ in range(3)]
        self.sends("healed", pairs)
        late = [(dst.index, dst.message_count(data)) for dst, data, _ in cross
                if dst.message_count(data) > 0]
        r.check("failed stay undelivered", not late,
                "no failed cross-partition send arrived after the heal" if not late
                else "failed sends printed after the heal (node, count): %s" % late)
        self.end_checks(excused=lambda i, j: (i in sides) != (j in sides))

    def scenario_bandwidth(self):
        r = self.results
        rate_kbit = self.args.rate_kbit
        slow = self.nodes[len(self.nodes) // 3]
        fast = self.nodes[len(self.nodes) // 3 + 1]
        src = self.nodes[-1]
        spec = ["tbf", "rate", "%dkbit" % rate_kbit, "burst", str(BURST_BYTES), "latency",
                "500ms"]
        for ns, dev in ((self.hub, slow.port_name), (slow.ns, "eth0")):
            cmd = self.in_ns(ns, ["tc", "qdisc", "add", "dev", dev, "root"] + spec)
            try:
                t = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            except OSError as e:
                t = subprocess.CompletedProcess(cmd, 127, "", str(e))
            if t.returncode != 0:
                r.skip("`%s` failed: %s" % (" ".join(cmd[4:]), t.stderr.strip()))
                self.clear_tbf(slow)
                return
        r.info("tbf %d kbit/s on node%d's link, both ways" % (rate_kbit, slow.index))
        t_limit = time.monotonic()
        size = self.args.bulk_bytes
        try:
            rates = {}
            for way, up, down, dev_ns, dev in (("to", size, 0, self.hub, slow.port_name),
                                               ("from", 0, size, slow.ns, "eth0")):
                sent0 = qdisc_sent(self.in_ns(dev_ns, ["tc", "-s", "qdisc", "show", "dev", dev]))
                t0 = time.monotonic()
                status, lines, err = self.run_tool(src.ns, ["perf", slow.addr, "--upload",
                                                            str(up), "--download", str(down),
                                                            "--json"], 60)
                wall = time.monotonic() - t0
                sent1 = qdisc_sent(self.in_ns(dev_ns, ["tc", "-s", "qdisc", "show", "dev", dev]))
                fin = [e for e in lines if e.get("event") == "perf" and e.get("type") == "final"]
                if not r.check("bulk %s" % way, status == 0 and bool(fin),
                               "perf %s node%d: %d B in %.2f s (the whole command)"
                               % (way, slow.index, size, wall) if fin and status == 0
                               else "perf %s node%d failed (status %s): %s"
                               % (way, slow.index, status, error_text(lines, err))):
                    continue
                payload = size * 8 / wall / 1000
                wire = (sent1 - sent0) * 8 / wall / 1000 if None not in (sent0, sent1) else None
                rates[way] = payload
                # The bucket lets `burst` bytes through at once: allowed on top of the rate.
                allowed = rate_kbit + BURST_BYTES * 8 / wall / 1000
                r.check("rate %s" % way, rate_kbit * 0.5 <= payload <= allowed,
                        "payload %.0f kbit/s, on the wire %s kbit/s through the qdisc; limit %d "
                        "kbit/s (+%.0f for the %d B burst)"
                        % (payload, "%.0f" % wire if wire is not None else "?", rate_kbit,
                           allowed - rate_kbit, BURST_BYTES))
            t0 = time.monotonic()
            status, lines, err = self.run_tool(src.ns, ["perf", fast.addr, "--upload", str(size),
                                                        "--download", str(size), "--json"], 60)
            wall = time.monotonic() - t0
            fin = [e for e in lines if e.get("event") == "perf" and e.get("type") == "final"]
            if fin and status == 0:
                both = 2 * size * 8 / wall / 1000
                r.check("others unaffected", both > rate_kbit * 10,
                        "node%d (no limit): %d B each way in %.3f s, %.0f kbit/s (the whole "
                        "command)" % (fast.index, size, wall, both))
            else:
                r.check("others unaffected", False, "perf to node%d failed (status %s): %s"
                        % (fast.index, status, error_text(lines, err)))
            # A stream of messages to the slow node: all delivered, while the others go on.
            self.sends("to-slow", [(src.ns, slow)] * 6 + [(src.ns, fast)] * 2, timeout_ms=15000)
            self.publish_and_check("with-slow", self.nodes[0], self.nodes, timeout=30)
            # The slow link carries the pings too: a saturated 1 Mbit/s queue may delay them
            # past the failure detector's bound. Counted, not failed; other links must stay up.
            downs = sum(1 for nd in self.nodes for e in nd.events("health")
                        if e.get("state") == "down" and e.get("cause") == "phi"
                        and (nd is slow or e.get("peer") == slow.peer)
                        and e["_t"] >= t_limit)
            r.info("%d links of node%d called down (phi) while it was limited" % (downs,
                                                                                  slow.index))
            self.end_checks(excused=lambda i, j: slow.index in (i, j))
        finally:
            self.clear_tbf(slow)
            self.restored.append((lambda i, j: slow.index in (i, j), time.monotonic()))

    def clear_tbf(self, slow):
        for ns, dev in ((self.hub, slow.port_name), (slow.ns, "eth0")):
            try:
                subprocess.run(self.in_ns(ns, ["tc", "qdisc", "del", "dev", dev, "root"]),
                               capture_output=True, timeout=30)
            except OSError:
                pass

    def scenario_kill_restart(self):
        r = self.results
        n = len(self.nodes)
        k = max(2, n // 7)
        victims = sorted(self.rng.sample(self.nodes[1:], k), key=lambda nd: nd.index)
        survivors = [nd for nd in self.nodes if nd not in victims]
        for nd in victims:
            nd.proc.kill()
        for nd in victims:
            nd.proc.reap(5)
        r.info("SIGKILL nodes %s" % [nd.index for nd in victims])
        # The survivors notice: a peer_down for every victim they were connected to.
        victim_ids = set(nd.peer for nd in victims)
        end = time.monotonic() + self.deadline.bound(20)
        stale = []
        for nd in survivors:
            while time.monotonic() < end and connected_peers(nd) & victim_ids:
                wait_next(nd.proc, lambda e: e.get("event") == "peer_down",
                          min(1.0, end - time.monotonic()))
            if connected_peers(nd) & victim_ids:
                stale.append(nd.index)
        r.check("noticed", not stale, "every survivor closed its connections to the killed"
                if not stale else "nodes %s still count a killed node as connected" % stale)
        t0 = time.monotonic()
        self.start_nodes(victims)
        missing = self.wait_started(victims, 30, "restart")
        if not r.check("restarted", not missing,
                       "%d nodes back with the same key and address, joined in %.1f s"
                       % (len(victims), time.monotonic() - t0) if not missing
                       else "did not start: %s" % missing):
            return
        # Lookups for the restarted and some survivors, through random survivors.
        targets = victims + self.rng.sample(survivors[1:], min(3, len(survivors) - 1))
        self.find_peers("find-peer", targets, survivors)
        # Pubsub reaches them again (bounded time for them to be meshed).
        end = time.monotonic() + self.deadline.bound(20)
        for nd in victims:
            nd.proc.wait_for(lambda e: e.get("event") == "mesh_peer" and e.get("joined"),
                             end - time.monotonic())
        self.publish_and_check("after-restart", survivors[-1], self.nodes, timeout=30)
        self.publish_and_check("from-restarted", victims[0], self.nodes, timeout=30)
        self.sends("restarted", [(self.rng.choice(survivors).ns, v) for v in victims]
                   + [(victims[0].ns, self.rng.choice(survivors))])
        killed = set(nd.index for nd in victims)
        self.end_checks(excused=lambda i, j: i in killed or j in killed)

    def stop_all(self):
        """Stops every node with SIGTERM and checks each exits 0 within its bound."""
        r = self.results
        r.begin("shutdown")
        live = [nd for nd in self.nodes if nd.proc.alive()]
        for nd in live:
            nd.proc.terminate()
        end = time.monotonic() + 10
        bad = []
        for nd in live:
            status = nd.proc.reap(end - time.monotonic())
            if status != 0:
                bad.append("node%d: %s" % (nd.index, "still running after 10 s" if status is None
                                            else "status %d" % status))
        r.check("clean stop", not bad, "%d nodes stopped on SIGTERM with status 0" % len(live)
                if not bad else "; ".join(bad))
        repeats = [(nd.index, x) for nd in self.nodes for p in nd.procs
                   for x in repeated_peer_up(p)]
        r.info("%d peer_up lines for a peer already up (a second connection event with no "
               "peer_down between: simultaneous dials)%s"
               % (len(repeats), (", e.g. node%d: %s at %s" % (repeats[0][0], repeats[0][1][0],
                                                             repeats[0][1][1]))
                  if repeats else ""))
        stray = [(nd.index, p.bad_lines[:1]) for nd in self.nodes for p in nd.procs
                 if p.bad_lines]
        r.check("json lines", not stray, "every stdout line of every node was a JSON object"
                if not stray else "lines that are not JSON: %s" % stray)


class RelayAddr:
    """A node reached through the relay: sends go to the relay's address, the node prints."""

    def __init__(self, node, addr):
        self.node = node
        self.addr = addr
        self.index = node.index
        self.proc = node.proc

    def message_count(self, payload):
        return self.node.message_count(payload)


# ---------------------------------------------------------------------------------------------
# Helpers


def parse_lines(text):
    out = []
    for line in (text or "").splitlines():
        try:
            e = json.loads(line)
            if isinstance(e, dict):
                out.append(e)
        except ValueError:
            pass
    return out


def error_text(lines, err):
    errs = [e for e in lines if e.get("event") == "error"]
    if errs:
        e = errs[-1]
        return "%s: %s" % (e.get("error"), e.get("message", e.get("detail", "")))
    return err.splitlines()[-1] if err else "no error line on stdout or stderr"


def describe_exit(p):
    status = p.proc.poll()
    if status is None:
        return "running"
    tail = p.stderr_tail()
    return "exited with status %d%s" % (status, (": " + tail) if tail else "")


def wait_next(proc, pred, timeout):
    """Waits for a line satisfying pred that comes after the lines seen so far."""
    seen = len(proc.snapshot())
    index = [0]

    def later(e):
        index[0] += 1
        return index[0] > seen and pred(e)
    return proc.wait_for(later, timeout)


def last_health(nd, peer):
    """The state of the node's last health line about a peer, with its time."""
    for e in reversed(nd.proc.snapshot()):
        if e.get("event") == "health" and e.get("peer") == peer:
            return "%s at %s" % (e.get("state"), e.get("ts"))
    return "none"


def connected_peers(nd):
    """The peers a node's latest process reports connected. The Host keeps one connection per
    peer, so a peer_down ends the peer's connection whatever number of peer_up lines came before
    it (see repeated_peer_up)."""
    up = set()
    for e in nd.proc.snapshot():
        if e.get("event") == "peer_up":
            up.add(e["peer"])
        elif e.get("event") == "peer_down":
            up.discard(e["peer"])
    return up


def mesh_peers(nd):
    """The peers in a node's topic mesh, from its latest process's mesh_peer lines."""
    mesh = set()
    for e in nd.proc.snapshot():
        if e.get("event") == "mesh_peer" and e.get("topic", TOPIC) == TOPIC:
            (mesh.add if e.get("joined") else mesh.discard)(e.get("peer"))
    return mesh


def repeated_peer_up(p):
    """peer_up lines for a peer already up (no peer_down between): [(peer, ts)]."""
    up, out = set(), []
    for e in p.snapshot():
        if e.get("event") == "peer_up":
            if e["peer"] in up:
                out.append((e["peer"], e.get("ts")))
            up.add(e["peer"])
        elif e.get("event") == "peer_down":
            up.discard(e["peer"])
    return out


METRIC_RE = re.compile(r'^(\w+)\{([^}]*)\}\s+(\S+)', re.M)


def metric(text, name, **labels):
    if not text:
        return None
    for m in METRIC_RE.finditer(text):
        if m.group(1) != name:
            continue
        got = dict(kv.split("=", 1) for kv in m.group(2).split(",") if "=" in kv)
        got = {k.strip(): v.strip().strip('"') for k, v in got.items()}
        if all(got.get(k) == v for k, v in labels.items()):
            v = m.group(3)
            return float("inf") if v == "+Inf" else float(v)
    return None


def qdisc_sent(cmd):
    """The `Sent N bytes` counter of `tc -s qdisc show`'s first qdisc."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"Sent (\d+) bytes", r.stdout)
    return int(m.group(1)) if m else None


def rss_bytes(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def parse_args(argv):
    p = argparse.ArgumentParser(description="bb's network lab (docs/lab.md)")
    p.add_argument("--nodes", type=int, default=20, help="bb-node hosts, one per namespace")
    p.add_argument("--scenario", action="append", choices=SCENARIOS + ["all"],
                   help="a scenario to run (repeatable); default all")
    p.add_argument("--bb-node", default=os.path.join(REPO, "build/default/examples/node/bb-node"),
                   help="the bb-node binary (default: build/default/examples/node/bb-node of "
                   "this checkout)")
    p.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    p.add_argument("--timeout-s", type=float, default=280.0, help="bound on the whole run")
    p.add_argument("--max-memory", type=int, default=64 << 20,
                   help="each node's --max-memory, bytes")
    p.add_argument("--min-conn", type=int, default=4, help="each node's --min-connections")
    p.add_argument("--rate-kbit", type=int, default=1000, help="the bandwidth scenario's limit")
    p.add_argument("--bulk-bytes", type=int, default=256 * 1024,
                   help="bytes each way of the bandwidth scenario's transfer")
    p.add_argument("--partition-detect-s", type=float, default=30.0,
                   help="bound on the nodes noticing a partition")
    p.add_argument("--heal-s", type=float, default=45.0,
                   help="bound on a message reaching all nodes after a heal")
    p.add_argument("--node-log", default="",
                   help="the nodes' log level (BB_LOG: trace, debug, ...); their stderr is kept "
                   "with --keep")
    p.add_argument("--keep", action="store_true",
                   help="leave the namespaces and logs in place (for debugging)")
    p.add_argument("--require", action="store_true",
                   help="exit %d instead of 0 when the lab must skip" % EXIT_SKIPPED_REQUIRED)
    args = p.parse_args(argv)
    if args.nodes < 4 or args.nodes > 1000:
        p.error("--nodes must be within 4..1000")
    if not args.scenario or "all" in args.scenario:
        args.scenario = list(SCENARIOS)
    return args


def main(argv):
    args = parse_args(argv)
    t_start = time.monotonic()
    summary = {"lab": "bb", "nodes": args.nodes, "seed": args.seed,
               "scenarios": {s: "skipped" for s in args.scenario}}

    def finish(code, reason=None):
        summary["seconds"] = round(time.monotonic() - t_start, 1)
        if reason:
            summary["reason"] = reason
        print(json.dumps(summary, sort_keys=True), flush=True)
        return code

    if not (os.path.isfile(args.bb_node) and os.access(args.bb_node, os.X_OK)):
        log("lab: error: no executable bb-node at %s (build it, or give --bb-node PATH)"
            % args.bb_node)
        return finish(EXIT_SETUP, "no bb-node")
    args.bb_node = os.path.abspath(args.bb_node)
    lab = Lab(args)
    # SIGTERM ends the run as Ctrl-C does: through the cleanup below.
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)
    code, reason = 0, None
    try:
        try:
            lab.probe()
        except Skip as e:
            log("lab: skipped: %s" % e)
            code, reason = (EXIT_SKIPPED_REQUIRED if args.require else 0), str(e)
        else:
            run(lab, args)
            code = EXIT_FAIL if lab.results.failed() else 0
    except SetupError as e:
        log("lab: error: %s" % e)
        code, reason = EXIT_SETUP, str(e)
    except KeyboardInterrupt:
        log("lab: interrupted; cleaning up")
        code, reason = 130, "interrupted"
    finally:
        lab.cleanup()
    summary["scenarios"].update(lab.results.scenarios)
    return finish(code, reason)


def raise_interrupt(*_):
    raise KeyboardInterrupt()


def run(lab, args):
    lab.build(args.nodes)
    lab.keygen()
    t0 = time.monotonic()
    lab.nodes[0].start(lab.node_args(lab.nodes[0]))
    if lab.wait_started(lab.nodes[:1], 15, "bootstrap node"):
        raise SetupError("the bootstrap node did not start")
    lab.start_nodes(lab.nodes[1:])
    missing = lab.wait_started(lab.nodes[1:], 60, "start")
    if missing:
        raise SetupError("%d nodes did not start" % len(missing))
    log("lab: %d nodes up (listening, DHT joined) in %.1f s"
        % (args.nodes, time.monotonic() - t0))
    runners = {
        "bootstrap-join": lab.scenario_bootstrap_join,
        "relay": lab.scenario_relay,
        "partition-heal": lab.scenario_partition_heal,
        "bandwidth": lab.scenario_bandwidth,
        "kill-restart": lab.scenario_kill_restart,
    }
    for name in SCENARIOS:
        if name not in args.scenario:
            continue
        if lab.deadline.left() <= 0:
            log("lab: --timeout-s %.0f passed; %s not run" % (args.timeout_s, name))
            lab.results.scenarios[name] = "fail"
            continue
        t = time.monotonic()
        lab.results.begin(name)
        lab.mark_scenario()
        try:
            runners[name]()
        except KeyboardInterrupt:
            lab.results.scenarios[name] = "fail"  # not finished
            raise
        except Exception as e:  # a broken step fails its scenario; the next ones still run
            lab.results.check("completed", False, "the scenario stopped: %s: %s"
                              % (type(e).__name__, e))
        log("     %s: %s in %.1f s" % (name, lab.results.scenarios[name], time.monotonic() - t))
    lab.stop_all()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
