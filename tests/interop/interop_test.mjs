#!/usr/bin/env node
// One bb <-> js-libp2p interop case:  node interop_test.mjs CASE BB_NODE JS_DIR
// Normally started by interop_test.sh, which skips when Node or node_modules is missing.
// Every wait on a process is bounded, the whole case is bounded below CTest's TIMEOUT, and every
// process started here is stopped on every path (normal end, failure, time limit, signal).
// Exits 0 when every check passed, 1 otherwise.

import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

const [caseName, BB_NODE, JS_DIR] = process.argv.slice(2)
const PEER_MJS = join(JS_DIR ?? '.', 'peer.mjs')

// Below CTest's TIMEOUT (120 s), so a hang is reported and cleaned up here, not killed by CTest.
const CASE_LIMIT_MS = 100_000
const START_MS = 20_000 // a listener printing its address (node loads js-libp2p first)
const PING_MS = 30_000 // a whole ping client run
const PERF_MS = 60_000 // a whole 10 MiB-each-way perf client run (sanitizer builds are slow)
const EVENT_MS = 10_000 // an event that follows something that already happened
const STOP_MS = 10_000 // a listener exiting after it was told to stop
const PUBSUB_MS = 20_000 // a publisher finding a subscriber and publishing; a message arriving
// After the last expected message: how long a duplicate would have to show up.
const DUPLICATE_MS = 2000
// Kept from every wait for reporting and stopping processes before CASE_LIMIT_MS.
const CLEANUP_MS = 5000
const PERF_BYTES = 10 * 1024 * 1024

// The js client's fixed key (seed 32 x 0x01), so bb's events can be checked against its id.
const JS_KEY_HEX = '0801124001010101010101010101010101010101010101010101010101010101010101018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c'
const JS_KEY_PEER = '12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5'
// A valid peer id whose key no process here holds (the peer-id spec's test vector).
const OTHER_PEER = '12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq'

const started = performance.now()
const procs = []

// The case's budget: a wait gets at most what is left of CASE_LIMIT_MS (less CLEANUP_MS), so a
// case running late fails naming the wait it was in rather than by the overall time limit.
function budget (ms) {
  return Math.max(0, Math.min(ms, CASE_LIMIT_MS - CLEANUP_MS - (performance.now() - started)))
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, budget(ms)))

class CheckFailed extends Error {}

function check (ok, what, detail = '') {
  if (!ok) throw new CheckFailed(`${what}${detail !== '' ? `: ${detail}` : ''}`)
  console.log(`ok   ${what}`)
}

// A child process whose stdout lines are collected (parsed as JSON when `json`) and can be
// waited for with a deadline. A JSON line's "seqno" (a pubsub u64, which JSON.parse would round
// to a double) is kept as its decimal digits, a string, read from the line's text.
class Proc {
  constructor (name, cmd, args, { json = false, stdin = 'ignore' } = {}) {
    this.name = name
    this.json = json
    this.lines = []
    this.stderr = ''
    this.exit = null
    this.waiters = new Set()
    this.child = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'] })
    procs.push(this)
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.stderr += `spawn failed: ${err.message}\n`
        this.exit = { code: null, signal: null }
        resolve(this.exit)
      })
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal }
        resolve(this.exit)
        this.notify()
      })
    })
    this.child.stderr.on('data', (d) => { this.stderr += d })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let item = line
      if (json) {
        try {
          item = JSON.parse(line)
          if (item !== null && typeof item === 'object' && 'seqno' in item) {
            item.seqno = /"seqno":\s*(\d+)/.exec(line)?.[1] ?? item.seqno
          }
        } catch {
          item = { event: '(not json)', line }
        }
      }
      this.lines.push(item)
      this.notify()
    })
  }

  notify () {
    for (const w of [...this.waiters]) w()
  }

  // Resolves with the first line (seen or future) matching `match`; fails after `ms` (within the
  // case's budget), or when the process exits without printing it.
  waitFor (match, what, ms = EVENT_MS) {
    return this.waitUntil(() => this.lines.find(match), what, ms)
  }

  // Resolves with probe()'s first result other than undefined, tried now and after every line;
  // fails like waitFor.
  waitUntil (probe, what, ms = EVENT_MS) {
    ms = budget(ms)
    return new Promise((resolve, reject) => {
      const poll = () => {
        const hit = probe()
        if (hit !== undefined) return done(() => resolve(hit))
        if (this.exit !== null) {
          return done(() => reject(new CheckFailed(
            `${this.name} exited (${fmtExit(this.exit)}) without printing ${what}`)))
        }
      }
      const timer = setTimeout(() => done(() => reject(new CheckFailed(
        `${this.name} did not print ${what} within ${ms} ms`))), ms)
      const done = (settle) => {
        clearTimeout(timer)
        this.waiters.delete(poll)
        settle()
      }
      this.waiters.add(poll)
      poll()
    })
  }

  async waitExit (ms) {
    ms = budget(ms)
    let timer
    const limit = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new CheckFailed(`${this.name} still running after ${ms} ms`)),
        ms)
    })
    try {
      return await Promise.race([this.exited, limit])
    } finally {
      clearTimeout(timer)
    }
  }

  kill () {
    if (this.exit === null && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL')
    }
  }

  dump () {
    const out = this.lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l)))
    console.log(`--- ${this.name} (${this.exit === null ? 'running' : fmtExit(this.exit)})`)
    if (out.length > 0) console.log(`stdout:\n  ${out.join('\n  ')}`)
    if (this.stderr.trim() !== '') console.log(`stderr:\n  ${this.stderr.trim().split('\n').join('\n  ')}`)
  }
}

function fmtExit ({ code, signal }) {
  return signal != null ? `signal ${signal}` : `exit ${code}`
}

function killAll () {
  for (const p of procs) p.kill()
}

function finish (code, message) {
  const seconds = ((performance.now() - started) / 1000).toFixed(2)
  if (code !== 0) {
    console.log(`FAIL interop/${caseName}: ${message}`)
    for (const p of procs) p.dump()
  } else {
    console.log(`PASS interop/${caseName} in ${seconds} s`)
  }
  killAll()
  process.exit(code)
}

process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => finish(1, `got ${sig}`))
setTimeout(() => finish(1, `case did not finish within ${CASE_LIMIT_MS} ms`), CASE_LIMIT_MS)

// --- the two peers -----------------------------------------------------------------------------

function peerOf (addr) {
  const at = addr.lastIndexOf('/p2p/')
  return at === -1 ? '' : addr.slice(at + 5)
}

function withPeer (addr, peer) {
  return `${addr.slice(0, addr.lastIndexOf('/p2p/'))}/p2p/${peer}`
}

// `peer.mjs listen`, stopped by closing its stdin (and so also when this driver dies).
async function startJsListener () {
  const p = new Proc('js listener', process.execPath, [PEER_MJS, 'listen'],
    { json: true, stdin: 'pipe' })
  const l = await p.waitFor((e) => e.event === 'listening', '"listening"', START_MS)
  p.addr = l.addr
  p.peer = l.peer
  check(peerOf(l.addr) === l.peer && l.peer.startsWith('12D3KooW'), 'js listener is up',
    JSON.stringify(l))
  return p
}

// Stops a js listener or js pubsub process by closing its stdin.
async function stopJsListener (p) {
  p.child.stdin.end()
  const r = await p.waitExit(STOP_MS)
  check(r.code === 0, `${p.name} exits 0 when its stdin closes`, fmtExit(r))
}

// `peer.mjs pubsub --topic ... ARGS`, with a stdin pipe kept open: lines written to it are
// published on the first topic; closing it stops the process.
async function startJsPubsub (name, args) {
  return startJsMode(name, 'pubsub', args)
}

// `peer.mjs MODE ARGS` with a stdin pipe, once it said where it listens.
async function startJsMode (name, mode, args) {
  const p = new Proc(name, process.execPath, [PEER_MJS, mode, ...args],
    { json: true, stdin: 'pipe' })
  const l = await p.waitFor((e) => e.event === 'listening', '"listening"', START_MS)
  p.addr = l.addr
  p.peer = l.peer
  check(peerOf(l.addr) === l.peer && l.peer.startsWith('12D3KooW'), `${name} is up`,
    JSON.stringify(l))
  return p
}

// `bb-node run --json ARGS`. Without ARGS: the default listen address (127.0.0.1, port 0),
// serving perf (which bb-node serves only when asked).
async function startBbNode (args = ['--serve-perf'], name = 'bb-node run') {
  const p = new Proc(name, BB_NODE, ['run', '--json', ...args], { json: true })
  const l = await p.waitFor((e) => e.event === 'listening', '"listening"', START_MS)
  p.addr = l.addr
  p.peer = peerOf(l.addr)
  check(/^\/ip4\/127\.0\.0\.1\/tcp\/[1-9]\d*\/p2p\/12D3KooW\w+$/.test(l.addr), `${name} is up`,
    JSON.stringify(l))
  return p
}

// `bb-node run` as a pubsub node on TOPIC: listening on 127.0.0.1 (port 0), dialling `connect`.
function startBbPubsub (name, connect = []) {
  return startBbNode(['--listen', '/ip4/127.0.0.1/tcp/0', '--topic', TOPIC,
    ...connect.flatMap((addr) => ['--connect', addr])], name)
}

async function stopBbNode (p) {
  p.child.kill('SIGTERM')
  const r = await p.waitExit(STOP_MS)
  check(r.code === 0, `${p.name} exits 0 on SIGTERM`, fmtExit(r))
}

function noErrors (p, what) {
  const bad = p.lines.filter((e) => e.event === 'error' || e.event === 'identify_error' ||
    e.event === 'publish_error' || e.event === '(not json)')
  check(bad.length === 0, what, JSON.stringify(bad))
}

// --- pubsub ------------------------------------------------------------------------------------

const TOPIC = 'bb-interop'
const U64_MAX = (1n << 64n) - 1n

function pubsubLines (p) {
  return p.lines.filter((e) => e.event === 'pubsub' && e.topic === TOPIC)
}

function isSeqno (s) {
  return typeof s === 'string' && /^\d{1,20}$/.test(s) && BigInt(s) <= U64_MAX
}

// `bb-node publish` of one text on TOPIC through `addr`, bounded.
function bbPublish (text, addr, name = 'bb-node publish') {
  return runClient(name, BB_NODE, ['publish', '--topic', TOPIC, '--data', text, '--connect', addr,
    '--timeout-ms', String(PUBSUB_MS)], PUBSUB_MS + EVENT_MS)
}

// Checks that `p` printed each message once (by author and seqno) and that the texts it got are
// exactly `texts`; returns its pubsub lines by text.
function checkOnce (p, texts) {
  const got = pubsubLines(p)
  const keys = new Set(got.map((m) => `${m.from}/${m.seqno}`))
  check(keys.size === got.length && got.every((m) => isSeqno(m.seqno)),
    `${p.name} got no message twice (by from + seqno), every seqno a u64`, JSON.stringify(got))
  const data = got.map((m) => m.data).sort()
  check(JSON.stringify(data) === JSON.stringify([...texts].sort()),
    `${p.name} got exactly the ${texts.length} expected message(s)`,
    `got ${JSON.stringify(data)}, wanted ${JSON.stringify(texts)}`)
  return new Map(got.map((m) => [m.data, m]))
}

// Runs a client to completion (bounded) and returns its exit and output.
async function runClient (name, cmd, args, ms, opts = {}) {
  const p = new Proc(name, cmd, args, opts)
  const r = await p.waitExit(ms)
  return { code: r.code, signal: r.signal, lines: p.lines, stderr: p.stderr, proc: p }
}

function jsClient (args, ms) {
  return runClient(`js ${args[0]}`, process.execPath,
    [PEER_MJS, ...args, '--key-hex', JS_KEY_HEX], ms, { json: true })
}

function bbClient (args, ms) {
  return runClient(`bb-node ${args[0]}`, BB_NODE, args, ms)
}

// --- dht ---------------------------------------------------------------------------------------

// The CIDv1 (raw, SHA-256) of "hello world": what the DHT cases provide and look up.
const DHT_CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const DHT_MS = 30_000 // a DHT node joining, a provide, a lookup

// `peer.mjs dht ARGS` (kad-dht in server mode, /ipfs/kad/1.0.0), stopped by closing its stdin.
// With `--bootstrap`, it is ready once it prints "done" (bootstrapped, provided, looked up).
async function startJsDht (name, args = []) {
  const p = await startJsMode(name, 'dht', args)
  const done = await p.waitFor((e) => e.event === 'done', '"done"', DHT_MS)
  check(done.routing_table >= (args.includes('--bootstrap') ? 1 : 0),
    `${name} is ready (routing table ${done.routing_table})`)
  return p
}

// Does `addrs` (multiaddrs, with or without /p2p/) hold the listening address `addr`?
function hasAddr (addrs, addr) {
  const bare = addr.slice(0, addr.lastIndexOf('/p2p/'))
  return (addrs ?? []).some((a) => a === addr || a === bare)
}

function jsDhtClient (name, args, ms = DHT_MS + EVENT_MS) {
  return runClient(name, process.execPath,
    [PEER_MJS, 'dht', '--exit', '--timeout-ms', String(DHT_MS), ...args], ms, { json: true })
}

// --- cases -------------------------------------------------------------------------------------

const cases = {
  // js J1 — J2 — J3 in a chain (J2 joined through J1, J3 through J2); bb-node, which knows only
  // J1, finds J3's address through the DHT.
  async dht_bb_finds_js_through_chain () {
    const j1 = await startJsDht('js J1')
    const j2 = await startJsDht('js J2', ['--bootstrap', j1.addr])
    const j3 = await startJsDht('js J3', ['--bootstrap', j2.addr])
    const r = await bbClient(['dht', 'find-peer', j3.peer, '--bootstrap', j1.addr, '--json',
      '--timeout-ms', String(DHT_MS)], DHT_MS + EVENT_MS)
    check(r.code === 0, 'bb-node dht find-peer exits 0', `${fmtExit(r)} ${r.stderr.trim()}`)
    let found = null
    try {
      found = JSON.parse(r.lines[0] ?? '')
    } catch {}
    check(r.lines.length === 1 && found?.peer === j3.peer && hasAddr(found.addrs, j3.addr),
      'bb-node prints J3 with its listening address', JSON.stringify(r.lines))
    const miss = await bbClient(['dht', 'find-peer', OTHER_PEER, '--bootstrap', j1.addr,
      '--timeout-ms', '3000'], 3000 + 10_000)
    check(miss.code === 1 && miss.lines.length === 0 && miss.stderr.includes(OTHER_PEER),
      'a peer nobody knows: exit 1, the reason on stderr', `${fmtExit(miss)} ${miss.stderr.trim()}`)
    for (const js of [j3, j2, j1]) await stopJsListener(js)
  },

  // bb-node runs as a DHT server joined through js J1 and provides a CID; another js node that
  // knows only J1 finds bb as the CID's provider, and finds bb's addresses by its peer id.
  async dht_js_finds_bb_provider () {
    const j1 = await startJsDht('js J1')
    const bb = await startBbNode(['--dht', 'server', '--bootstrap', j1.addr, '--provide', DHT_CID])
    const ready = await bb.waitFor((e) => e.event === 'dht', '"dht"', DHT_MS)
    check(ready.mode === 'server' && ready.routing_table >= 1, 'bb joined the DHT through J1',
      JSON.stringify(ready))
    const provided = await bb.waitFor((e) => e.event === 'provide' ||
      (e.event === 'error' && e.kind === 'provide'), '"provide"', DHT_MS)
    check(provided.event === 'provide' && provided.cid === DHT_CID && provided.peers >= 1,
      'bb provided the CID to J1', JSON.stringify(provided))
    const r = await jsDhtClient('js finder', ['--bootstrap', j1.addr, '--find-providers', DHT_CID,
      '--find-peer', bb.peer])
    check(r.code === 0, 'the js finder exits 0', `${fmtExit(r)} ${r.stderr.trim()}`)
    const providers = r.lines.find((e) => e.event === 'providers')
    const asProvider = providers?.providers.find((p) => p.peer === bb.peer)
    check(asProvider !== undefined && hasAddr(asProvider.addrs, bb.addr),
      'js finds bb, with its address, as the provider', JSON.stringify(providers))
    const found = r.lines.find((e) => e.event === 'found_peer')
    check(found?.peer === bb.peer && hasAddr(found.addrs, bb.addr),
      'js finds bb\'s address by its peer id (findPeer)', JSON.stringify(found))
    noErrors(bb, 'bb reports no errors')
    await stopBbNode(bb)
    await stopJsListener(j1)
  },

  // bb-node is the only DHT server js knows: js A joins through it and provides a CID, js B
  // joins through it and asks GET_PROVIDERS and FIND_NODE. bb's answers name A.
  async dht_bb_answers_js () {
    const bb = await startBbNode(['--dht', 'server'])
    const ready = await bb.waitFor((e) => e.event === 'dht', '"dht"', DHT_MS)
    check(ready.mode === 'server', 'bb runs the DHT in server mode', JSON.stringify(ready))
    const a = await startJsDht('js A', ['--bootstrap', bb.addr, '--provide', DHT_CID])
    check(a.lines.some((e) => e.event === 'response' && e.from === bb.peer &&
      e.type === 'ADD_PROVIDER'), 'js A announced itself to bb (ADD_PROVIDER)')
    const r = await jsDhtClient('js B', ['--bootstrap', bb.addr, '--find-providers', DHT_CID,
      '--find-peer', a.peer])
    check(r.code === 0, 'js B exits 0', `${fmtExit(r)} ${r.stderr.trim()}`)
    const fromBb = (type) => r.lines.filter((e) => e.event === 'response' && e.from === bb.peer &&
      e.type === type)
    const providersAnswer = fromBb('GET_PROVIDERS').find((e) =>
      e.providers.some((p) => p.peer === a.peer && hasAddr(p.addrs, a.addr)))
    check(providersAnswer !== undefined, 'bb answers GET_PROVIDERS with A and its address',
      JSON.stringify(fromBb('GET_PROVIDERS')))
    const nodeAnswer = fromBb('FIND_NODE').find((e) =>
      e.closer.some((p) => p.peer === a.peer && hasAddr(p.addrs, a.addr)))
    check(nodeAnswer !== undefined, 'bb answers FIND_NODE with A and its address',
      JSON.stringify(fromBb('FIND_NODE')))
    const found = r.lines.find((e) => e.event === 'found_peer')
    check(found?.peer === a.peer, 'js B finds A through bb', JSON.stringify(found))
    noErrors(bb, 'bb reports no errors')
    await stopBbNode(bb)
    await stopJsListener(a)
  },

  // bb dials js and pings it; js identifies bb on the same connection.
  async bb_pings_js () {
    const js = await startJsListener()
    const r = await bbClient(['ping', js.addr, '--count', '3'], PING_MS)
    check(r.code === 0, 'bb-node ping exits 0', `${fmtExit(r)} ${r.stderr.trim()}`)
    const re = new RegExp(`^ping ${js.peer} rtt_ms=(\\d+(\\.\\d+)?(e-?\\d+)?)$`)
    check(r.lines.length === 3 && r.lines.every((l) => re.test(l)),
      'bb-node ping prints 3 RTT lines naming the js peer', JSON.stringify(r.lines))
    const conn = await js.waitFor((e) => e.event === 'peer_connected', '"peer_connected"')
    check(conn.direction === 'inbound' && conn.encryption === '/noise' &&
      conn.multiplexer === '/yamux/1.0.0', 'js sees an inbound /noise + /yamux/1.0.0 connection',
    JSON.stringify(conn))
    const id = await js.waitFor((e) => (e.event === 'identify' || e.event === 'identify_error') &&
      e.peer === conn.peer, 'identify of bb')
    check(id.event === 'identify' && typeof id.agentVersion === 'string' &&
      id.agentVersion.startsWith('bb/'), 'js identified bb (agentVersion bb/...)',
    JSON.stringify(id))
    check(id.protocols.includes('/ipfs/ping/1.0.0') && id.protocols.includes('/ipfs/id/1.0.0'),
      'bb lists /ipfs/ping/1.0.0 and /ipfs/id/1.0.0', JSON.stringify(id.protocols))
    await js.waitFor((e) => e.event === 'peer_disconnected' && e.peer === conn.peer,
      '"peer_disconnected" after bb-node ping exits')
    noErrors(js, 'js listener reports no errors')
    await stopJsListener(js)
  },

  // js dials bb, pings it and identifies it; bb identifies js.
  async js_pings_bb () {
    const bb = await startBbNode()
    const r = await jsClient(['ping', bb.addr, '--count', '3'], PING_MS)
    check(r.code === 0, 'js ping exits 0', `${fmtExit(r)} ${r.stderr.trim()}`)
    const pings = r.lines.filter((e) => e.event === 'ping')
    check(pings.length === 3 && pings.every((e) => Number.isFinite(e.rtt_ms) && e.rtt_ms >= 0),
      'js ping reports 3 pings', JSON.stringify(pings))
    const id = r.lines.find((e) => e.event === 'identify')
    check(id?.peer === bb.peer && id.agentVersion === 'bb/0.1.0',
      'js identified bb (agentVersion bb/0.1.0)', JSON.stringify(id))
    check(id.protocols.includes('/ipfs/ping/1.0.0') && id.protocols.includes('/bb/wire/1.0.0'),
      'bb lists /ipfs/ping/1.0.0 and /bb/wire/1.0.0', JSON.stringify(id.protocols))
    const up = await bb.waitFor((e) => e.event === 'peer_up' && e.peer === JS_KEY_PEER,
      '"peer_up" for the js peer')
    check(up.direction === 'inbound', 'bb reports an inbound peer_up', JSON.stringify(up))
    const ided = await bb.waitFor((e) => e.event === 'identified' && e.peer === JS_KEY_PEER,
      '"identified" for the js peer')
    check(typeof ided.agent === 'string' && ided.agent.startsWith('js-libp2p/'),
      'bb identified js (agent js-libp2p/...)', JSON.stringify(ided))
    await bb.waitFor((e) => e.event === 'peer_down' && e.peer === JS_KEY_PEER,
      '"peer_down" after js ping exits')
    noErrors(bb, 'bb-node reports no errors')
    await stopBbNode(bb)
  },

  // bb runs /perf/1.0.0 against js, 10 MiB each way.
  async bb_perf_js () {
    const js = await startJsListener()
    const n = String(PERF_BYTES)
    const r = await bbClient(['perf', js.addr, '--upload', n, '--download', n], PERF_MS)
    check(r.code === 0, 'bb-node perf exits 0', `${fmtExit(r)} ${r.stderr.trim()}`)
    const re = (what) => new RegExp(`^${what} bytes=(\\d+) seconds=\\S+ mib_per_s=\\S+$`)
    // An "interval ..." line per second while it runs, then the two summary lines.
    const summary = r.lines.filter((l) => !l.startsWith('interval '))
    check(summary.length === 2 && re('upload').test(summary[0]) && re('download').test(summary[1]),
      'bb-node perf prints an upload and a download line', JSON.stringify(r.lines))
    const up = Number(re('upload').exec(summary[0])[1])
    const down = Number(re('download').exec(summary[1])[1])
    check(up === PERF_BYTES && down === PERF_BYTES, `bb-node perf moved ${n} bytes each way`,
      `upload ${up}, download ${down}`)
    const conn = await js.waitFor((e) => e.event === 'peer_connected', '"peer_connected"')
    const served = await js.waitFor((e) => e.event === 'perf_served', '"perf_served"')
    check(served.peer === conn.peer && served.upload_bytes === PERF_BYTES &&
      served.download_bytes === PERF_BYTES, 'js served the same byte counts',
    JSON.stringify(served))
    noErrors(js, 'js listener reports no errors')
    await stopJsListener(js)
  },

  // js runs /perf/1.0.0 against bb, 10 MiB each way.
  async js_perf_bb () {
    const bb = await startBbNode()
    const n = String(PERF_BYTES)
    const r = await jsClient(['perf', bb.addr, '--upload', n, '--download', n,
      '--timeout-ms', String(PERF_MS - 5000)], PERF_MS)
    check(r.code === 0, 'js perf exits 0', `${fmtExit(r)} ${r.stderr.trim()}`)
    const perf = r.lines.find((e) => e.event === 'perf')
    check(perf?.upload_bytes === PERF_BYTES && perf.download_bytes === PERF_BYTES,
      `js perf moved ${n} bytes each way`, JSON.stringify(perf))
    await bb.waitFor((e) => e.event === 'peer_up' && e.peer === JS_KEY_PEER,
      '"peer_up" for the js peer')
    noErrors(bb, 'bb-node reports no errors')
    await stopBbNode(bb)
  },

  // A dial to the right address with the wrong /p2p/ id fails on both sides.
  async wrong_peer () {
    const js = await startJsListener()
    const toJs = withPeer(js.addr, OTHER_PEER)
    const r = await bbClient(['ping', toJs], PING_MS)
    check(r.code === 1, 'bb-node ping to a wrong peer id exits 1', `${fmtExit(r)}`)
    const err = r.stderr.trim().split('\n')
    check(err.length === 1 && err[0].startsWith(`bb-node ping: cannot reach ${toJs}: `) &&
      /PeerId/.test(err[0]), 'bb-node ping says, in one line, the PeerId did not match',
    JSON.stringify(r.stderr))
    check(r.lines.length === 0, 'bb-node ping prints no RTT', JSON.stringify(r.lines))
    check(!js.lines.some((e) => e.event === 'peer_connected'), 'js never saw a connection')
    await stopJsListener(js)

    const bb = await startBbNode()
    const j = await jsClient(['ping', withPeer(bb.addr, OTHER_PEER)], PING_MS)
    check(j.code === 3, 'js ping to a wrong peer id exits 3 (dial failed)',
      `${fmtExit(j)} ${j.stderr.trim()}`)
    check(!j.lines.some((e) => e.event === 'ping'), 'js ping reports no ping')
    check(!bb.lines.some((e) => e.event === 'peer_up'), 'bb never reported the js peer up')
    await stopBbNode(bb)
  },

  // bb-node publish delivers one message to a js subscriber; with nobody subscribed it fails.
  async bb_publishes_js_receives () {
    const js = await startJsPubsub('js pubsub', ['--topic', TOPIC])
    const text = `bb -> js ${Date.now()}`
    const r = await bbPublish(text, js.addr)
    check(r.code === 0, 'bb-node publish exits 0', `${fmtExit(r)} ${r.stderr.trim()}`)
    // bb-node publish need not print its peer id; js's only connection so far names it.
    const conn = await js.waitFor((e) => e.event === 'peer_connected', '"peer_connected"')
    check(conn.direction === 'inbound', 'js sees bb-node publish connect inbound',
      JSON.stringify(conn))
    const m = await js.waitFor((e) => e.event === 'pubsub', '"pubsub"', PUBSUB_MS)
    check(m.topic === TOPIC && m.data === text, 'js got bb\'s message on the topic, exact data',
      JSON.stringify(m))
    check(m.from === conn.peer && m.received_from === conn.peer,
      'the message is from bb-node publish\'s peer id, received from it', JSON.stringify(m))
    check(isSeqno(m.seqno), 'its seqno is a u64', JSON.stringify(m))
    await sleep(DUPLICATE_MS)
    checkOnce(js, [text])

    // js is subscribed to TOPIC only: a publish to another topic finds no subscriber.
    const none = await runClient('bb-node publish (no subscriber)', BB_NODE, ['publish',
      '--topic', `${TOPIC}-nobody`, '--data', 'x', '--connect', js.addr, '--timeout-ms', '2000'],
    2000 + EVENT_MS)
    check(none.code === 1 && none.stderr.trim() !== '',
      'bb-node publish with no subscriber exits 1 and says why',
      `${fmtExit(none)} ${JSON.stringify(none.stderr)}`)
    check(js.lines.filter((e) => e.event === 'pubsub').length === 1,
      'js got nothing more')
    noErrors(js, 'js pubsub reports no errors')
    await stopJsListener(js)
  },

  // js publishes (once bb is subscribed); bb prints the message with js's peer id and seqno.
  async js_publishes_bb_receives () {
    const bb = await startBbPubsub('bb-node run')
    const text = `js -> bb: héllo ${Date.now()}`
    const js = await startJsPubsub('js pubsub', ['--topic', TOPIC, '--connect', bb.addr,
      '--publish', text, '--key-hex', JS_KEY_HEX, '--timeout-ms', String(PUBSUB_MS)])
    const sub = await js.waitFor((e) => e.event === 'subscribed' && e.peer === bb.peer,
      '"subscribed" for bb', PUBSUB_MS)
    check(sub.topic === TOPIC, 'js sees bb subscribed to the topic', JSON.stringify(sub))
    const pub = await js.waitFor((e) => e.event === 'published', '"published"', PUBSUB_MS)
    check(pub.recipients >= 1 && isSeqno(pub.seqno), 'js published to bb', JSON.stringify(pub))
    const m = await bb.waitFor((e) => e.event === 'pubsub', '"pubsub"', PUBSUB_MS)
    check(m.topic === TOPIC && m.data === text, 'bb got js\'s message on the topic, exact data',
      JSON.stringify(m))
    check(m.from === JS_KEY_PEER && m.seqno === pub.seqno,
      'bb names js\'s peer id as its author, with js\'s seqno', JSON.stringify(m))
    await sleep(DUPLICATE_MS)
    checkOnce(bb, [text])
    noErrors(js, 'js pubsub reports no errors')
    await stopJsListener(js)
    noErrors(bb, 'bb-node reports no errors')
    await stopBbNode(bb)
  },

  // js A -- bb -- js B, A and B not connected: bb forwards A's message to B.
  async bb_relays_js_to_js () {
    const bb = await startBbPubsub('bb-node run')
    const b = await startJsPubsub('js B', ['--topic', TOPIC, '--connect', bb.addr])
    await b.waitFor((e) => e.event === 'subscribed' && e.peer === bb.peer && e.topic === TOPIC,
      '"subscribed" for bb', PUBSUB_MS)
    check(true, 'js B sees bb subscribed')
    await bb.waitFor((e) => e.event === 'mesh_peer' && e.peer === b.peer && e.joined,
      '"mesh_peer" joined for js B', PUBSUB_MS)
    check(true, 'bb has js B in its mesh')
    const text = `js A -> bb -> js B ${Date.now()}`
    const a = await startJsPubsub('js A', ['--topic', TOPIC, '--connect', bb.addr,
      '--publish', text, '--key-hex', JS_KEY_HEX, '--timeout-ms', String(PUBSUB_MS)])
    const pub = await a.waitFor((e) => e.event === 'published', '"published"', PUBSUB_MS)
    check(pub.recipients === 1 && isSeqno(pub.seqno), 'js A published to bb alone',
      JSON.stringify(pub))
    const atB = await b.waitFor((e) => e.event === 'pubsub', '"pubsub"', PUBSUB_MS)
    check(atB.topic === TOPIC && atB.data === text && atB.from === JS_KEY_PEER &&
      atB.seqno === pub.seqno, 'js B got A\'s message: A\'s peer id and seqno, exact data',
    JSON.stringify(atB))
    check(atB.received_from === bb.peer, 'js B got it from bb', JSON.stringify(atB))
    const atBb = await bb.waitFor((e) => e.event === 'pubsub', '"pubsub"')
    check(atBb.data === text && atBb.from === JS_KEY_PEER && atBb.seqno === pub.seqno,
      'bb printed A\'s message too', JSON.stringify(atBb))
    check(!a.lines.some((e) => e.event === 'peer_connected' && e.peer === b.peer) &&
      !b.lines.some((e) => e.event === 'peer_connected' && e.peer === a.peer),
    'js A and js B never connected')
    await sleep(DUPLICATE_MS)
    checkOnce(b, [text])
    checkOnce(bb, [text])
    checkOnce(a, [])
    for (const p of [a, b]) noErrors(p, `${p.name} reports no errors`)
    noErrors(bb, 'bb-node reports no errors')
    await stopJsListener(a)
    await stopJsListener(b)
    await stopBbNode(bb)
  },

  // Five pubsub nodes in a ring, js A - bb1 - bb2 - js B - bb3 - js A: connected but not
  // complete, with bb-bb and bb-js links and two paths between any two nodes. Each publishes one
  // message: a js node from its stdin, a bb node through a `bb-node publish` process connected
  // to it alone (a node of its own, so bb nodes get all 5 messages; js nodes get the 4 not
  // their own). Every node must get each of its messages exactly once, with the right author.
  async mixed_mesh () {
    const bb1 = await startBbPubsub('bb1')
    const bb2 = await startBbPubsub('bb2', [bb1.addr])
    const jsA = await startJsPubsub('js A', ['--topic', TOPIC, '--connect', bb1.addr,
      '--key-hex', JS_KEY_HEX, '--timeout-ms', String(PUBSUB_MS)])
    const jsB = await startJsPubsub('js B', ['--topic', TOPIC, '--connect', bb2.addr,
      '--timeout-ms', String(PUBSUB_MS)])
    const bb3 = await startBbPubsub('bb3', [jsB.addr, jsA.addr])
    const ring = [jsA, bb1, bb2, jsB, bb3]
    const ringPeers = new Set(ring.map((p) => p.peer))
    check(ringPeers.size === 5, 'five distinct peer ids')

    // The links: js sees its two bb neighbours subscribe; bb2 reports bb1 up.
    for (const [js, neighbours] of [[jsA, [bb1, bb3]], [jsB, [bb2, bb3]]]) {
      for (const bb of neighbours) {
        await js.waitFor((e) => e.event === 'subscribed' && e.peer === bb.peer && e.topic === TOPIC,
          `"subscribed" for ${bb.name}`, PUBSUB_MS)
      }
      check(true, `${js.name} sees ${neighbours.map((bb) => bb.name).join(' and ')} subscribed`)
    }
    await bb2.waitFor((e) => e.event === 'peer_up' && e.peer === bb1.peer, '"peer_up" for bb1',
      PUBSUB_MS)
    check(true, 'bb2 and bb1 are connected')
    // Each bb node's mesh holds its two ring neighbours (bb relays over its mesh only).
    for (const [bb, neighbours] of [[bb1, [jsA, bb2]], [bb2, [bb1, jsB]], [bb3, [jsB, jsA]]]) {
      for (const n of neighbours) {
        await bb.waitFor((e) => e.event === 'mesh_peer' && e.peer === n.peer && e.joined,
          `"mesh_peer" joined for ${n.name}`, PUBSUB_MS)
      }
    }
    check(true, 'every bb node has its ring neighbours in its mesh')

    const stamp = Date.now()
    const texts = new Map(ring.map((p) => [p, `from ${p.name} ${stamp}`]))
    for (const js of [jsA, jsB]) js.child.stdin.write(texts.get(js) + '\n')
    const runs = await Promise.all([bb1, bb2, bb3].map((bb) =>
      bbPublish(texts.get(bb), bb.addr, `bb-node publish to ${bb.name}`)))
    for (const [i, r] of runs.entries()) {
      check(r.code === 0, `bb-node publish to bb${i + 1} exits 0`,
        `${fmtExit(r)} ${r.stderr.trim()}`)
    }
    const published = new Map()
    for (const js of [jsA, jsB]) {
      const pub = await js.waitFor((e) => e.event === 'published', '"published"', PUBSUB_MS)
      check(pub.recipients >= 1 && isSeqno(pub.seqno), `${js.name} published`, JSON.stringify(pub))
      published.set(js, pub)
    }

    // Each node's messages: all five, less its own for a js node.
    const wanted = (p) => ring.filter((q) => q !== p || !published.has(p)).map((q) => texts.get(q))
    for (const p of ring) {
      const want = wanted(p)
      await p.waitUntil(() => {
        const have = new Set(pubsubLines(p).map((m) => m.data))
        return want.every((t) => have.has(t)) ? true : undefined
      }, `all ${want.length} messages`, PUBSUB_MS)
    }
    await sleep(DUPLICATE_MS)
    const got = new Map(ring.map((p) => [p, checkOnce(p, wanted(p))]))

    // Authors: a js node's message carries its peer id and seqno at every receiver; a bb-node
    // publish process's carries one (from, seqno) everywhere, a peer id outside the ring that
    // the bb node it connected to reported up.
    for (const author of ring) {
      const text = texts.get(author)
      const lines = ring.filter((p) => got.get(p).has(text)).map((p) => got.get(p).get(text))
      const pub = published.get(author)
      if (pub !== undefined) {
        check(lines.every((m) => m.from === author.peer && m.seqno === pub.seqno),
          `${author.name}'s message carries its peer id and seqno at all 4 others`,
          JSON.stringify(lines))
      } else {
        const { from, seqno } = lines[0]
        check(lines.every((m) => m.from === from && m.seqno === seqno) && !ringPeers.has(from),
          `the message published through ${author.name} has one author, outside the ring, at all 5`,
          JSON.stringify(lines))
        await author.waitFor((e) => e.event === 'peer_up' && e.peer === from,
          `"peer_up" for its publisher ${from}`)
        check(true, `${author.name} reported that author up (its bb-node publish)`)
      }
    }

    for (const p of ring) noErrors(p, `${p.name} reports no errors`)
    for (const js of [jsA, jsB]) await stopJsListener(js)
    for (const bb of [bb1, bb2, bb3]) await stopBbNode(bb)
  }
}

if (!(caseName in cases) || BB_NODE === undefined || JS_DIR === undefined) {
  console.log(`usage: interop_test.mjs CASE BB_NODE JS_DIR; CASE is one of ${Object.keys(cases).join(', ')}`)
  process.exit(2)
}
cases[caseName]().then(() => finish(0), (err) =>
  finish(1, err instanceof CheckFailed ? err.message : `internal error: ${err?.stack ?? err}`))
