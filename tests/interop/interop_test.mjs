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
const PERF_BYTES = 10 * 1024 * 1024

// The js client's fixed key (seed 32 x 0x01), so bb's events can be checked against its id.
const JS_KEY_HEX = '0801124001010101010101010101010101010101010101010101010101010101010101018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c'
const JS_KEY_PEER = '12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5'
// A valid peer id whose key no process here holds (the peer-id spec's test vector).
const OTHER_PEER = '12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq'

const started = performance.now()
const procs = []

class CheckFailed extends Error {}

function check (ok, what, detail = '') {
  if (!ok) throw new CheckFailed(`${what}${detail !== '' ? `: ${detail}` : ''}`)
  console.log(`ok   ${what}`)
}

// A child process whose stdout lines are collected (parsed as JSON when `json`) and can be
// waited for with a deadline.
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

  // Resolves with the first line (seen or future) matching `match`; fails after `ms`, or when
  // the process exits without printing it.
  waitFor (match, what, ms = EVENT_MS) {
    return new Promise((resolve, reject) => {
      const poll = () => {
        const hit = this.lines.find(match)
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

async function stopJsListener (p) {
  p.child.stdin.end()
  const r = await p.waitExit(STOP_MS)
  check(r.code === 0, 'js listener exits 0 when its stdin closes', fmtExit(r))
}

// `bb-node run --json` on its default listen address (127.0.0.1, port 0), serving perf (which
// bb-node serves only when asked).
async function startBbNode () {
  const p = new Proc('bb-node run', BB_NODE, ['run', '--json', '--serve-perf'], { json: true })
  const l = await p.waitFor((e) => e.event === 'listening', '"listening"', START_MS)
  p.addr = l.addr
  p.peer = peerOf(l.addr)
  check(/^\/ip4\/127\.0\.0\.1\/tcp\/[1-9]\d*\/p2p\/12D3KooW\w+$/.test(l.addr), 'bb-node is up',
    JSON.stringify(l))
  return p
}

async function stopBbNode (p) {
  p.child.kill('SIGTERM')
  const r = await p.waitExit(STOP_MS)
  check(r.code === 0, 'bb-node run exits 0 on SIGTERM', fmtExit(r))
}

function noErrors (p, what) {
  const bad = p.lines.filter((e) => e.event === 'error' || e.event === 'identify_error' ||
    e.event === '(not json)')
  check(bad.length === 0, what, JSON.stringify(bad))
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

// --- cases -------------------------------------------------------------------------------------

const cases = {
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
    check(r.lines.length === 2 && re('upload').test(r.lines[0]) && re('download').test(r.lines[1]),
      'bb-node perf prints an upload and a download line', JSON.stringify(r.lines))
    const up = Number(re('upload').exec(r.lines[0])[1])
    const down = Number(re('download').exec(r.lines[1])[1])
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
  }
}

if (!(caseName in cases) || BB_NODE === undefined || JS_DIR === undefined) {
  console.log(`usage: interop_test.mjs CASE BB_NODE JS_DIR; CASE is one of ${Object.keys(cases).join(', ')}`)
  process.exit(2)
}
cases[caseName]().then(() => finish(0), (err) =>
  finish(1, err instanceof CheckFailed ? err.message : `internal error: ${err?.stack ?? err}`))
