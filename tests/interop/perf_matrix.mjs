#!/usr/bin/env node
// /perf/1.0.0 throughput of every client/server pairing of bb-node and the js peer, for the
// benchmark table. Not a test: run it by hand on a quiet machine.
//   node tests/interop/perf_matrix.mjs BB_NODE [--runs N] [--bytes B]
// Defaults: 3 runs, 100 MiB each way. Runs go round-robin (run 1 of every pairing, then run 2,
// ...), so every pairing sees the same machine state; each run uses a fresh server process.
// Prints one line per run, then per pairing the median of each figure. Mbit/s are 10^6 bit/s;
// total = both directions over upload + download time. Both clients time the same span: from
// the first byte written (after the stream is negotiated) to the first reply byte (upload), then
// to EOF (download).

import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const PEER_MJS = join(dirname(fileURLToPath(import.meta.url)), 'js', 'peer.mjs')
const STEP_MS = 300_000

function arg (name, fallback) {
  const i = process.argv.indexOf(name)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const BB_NODE = process.argv[2]
const runs = arg('--runs', 3)
const bytes = arg('--bytes', 100 * 1024 * 1024)
if (BB_NODE === undefined || BB_NODE.startsWith('--') || !(runs >= 1) || !(bytes >= 1)) {
  console.error('usage: perf_matrix.mjs BB_NODE [--runs N] [--bytes B]')
  process.exit(2)
}

const children = new Set()
process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1))

function start (cmd, args, stdin = 'ignore') {
  const child = spawn(cmd, args, { stdio: [stdin, 'pipe', 'inherit'] })
  children.add(child)
  child.on('close', () => children.delete(child))
  child.lines = []
  child.firstLine = new Promise((resolve, reject) => {
    child.on('close', () => reject(new Error(`${cmd} ${args[0]} exited before printing a line`)))
    createInterface({ input: child.stdout }).on('line', (l) => {
      child.lines.push(l)
      resolve(l)
    })
  })
  child.firstLine.catch(() => {}) // only servers' first lines are awaited
  return child
}

function bounded (promise, what) {
  let timer
  const limit = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${STEP_MS} ms`)), STEP_MS)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

// Resolves with the server's listen address (its first stdout line).
async function listening (child) {
  return JSON.parse(await bounded(child.firstLine, 'server start')).addr
}

function finished (child, what) {
  return bounded(new Promise((resolve, reject) => {
    child.on('close', (code) => code === 0
      ? resolve(child.lines)
      : reject(new Error(`${what} exited ${code}`)))
  }), what)
}

async function stopServer (server) {
  if (server.exitCode !== null) return
  const closed = new Promise((resolve) => server.on('close', resolve))
  server.kill('SIGTERM')
  await bounded(closed, 'server stop')
}

const servers = {
  js: () => start(process.execPath, [PEER_MJS, 'listen', '--ignore-stdin']),
  bb: () => start(BB_NODE, ['run', '--json'])
}

// Each client returns { up_s, down_s } after checking the byte counts.
const clients = {
  async js (addr) {
    const lines = await finished(start(process.execPath,
      [PEER_MJS, 'perf', addr, '--upload', String(bytes), '--download', String(bytes)]), 'js perf')
    const r = lines.map((l) => JSON.parse(l)).find((e) => e.event === 'perf')
    if (r?.upload_bytes !== bytes || r.download_bytes !== bytes) throw new Error(`js perf: ${lines}`)
    return { up_s: r.upload_seconds, down_s: r.download_seconds }
  },
  async bb (addr) {
    const lines = await finished(start(BB_NODE,
      ['perf', addr, '--upload', String(bytes), '--download', String(bytes)]), 'bb-node perf')
    const get = (what) => {
      const m = new RegExp(`^${what} bytes=(\\d+) seconds=(\\S+) `).exec(
        lines.find((l) => l.startsWith(what + ' ')) ?? '')
      if (m === null || Number(m[1]) !== bytes) throw new Error(`bb-node perf: ${lines}`)
      return Number(m[2])
    }
    return { up_s: get('upload'), down_s: get('download') }
  }
}

const pairings = [['js', 'js'], ['bb', 'bb'], ['bb', 'js'], ['js', 'bb']] // [client, server]
const mbps = (s) => (bytes * 8) / s / 1e6
const results = new Map(pairings.map(([c, s]) => [`${c}->${s}`, []]))

function fmt (r) {
  return `up ${mbps(r.up_s).toFixed(0).padStart(5)}  down ${mbps(r.down_s).toFixed(0).padStart(5)}` +
    `  total ${((2 * bytes * 8) / (r.up_s + r.down_s) / 1e6).toFixed(0).padStart(5)} Mbit/s` +
    `  (${((2 * bytes) / (r.up_s + r.down_s) / 2 ** 20).toFixed(1)} MiB/s, ` +
    `${(r.up_s + r.down_s).toFixed(3)} s)`
}

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

console.log(`perf_matrix: ${runs} run(s) per pairing, ${bytes} bytes each way, client->server`)
for (let run = 1; run <= runs; run++) {
  for (const [c, s] of pairings) {
    const server = servers[s]()
    try {
      const r = await clients[c](await listening(server))
      results.get(`${c}->${s}`).push(r)
      console.log(`run ${run}  ${c}->${s}  ${fmt(r)}`)
    } finally {
      await stopServer(server)
    }
  }
}
console.log('medians (of each figure separately):')
for (const [name, rs] of results) {
  const up = median(rs.map((r) => mbps(r.up_s)))
  const down = median(rs.map((r) => mbps(r.down_s)))
  const totals = rs.map((r) => (2 * bytes * 8) / (r.up_s + r.down_s) / 1e6)
  const total = median(totals)
  console.log(`${name.padEnd(6)}  up ${up.toFixed(0).padStart(5)}  down ${down.toFixed(0).padStart(5)}` +
    `  total ${total.toFixed(0).padStart(5)} Mbit/s (${(total * 1e6 / 8 / 2 ** 20).toFixed(1)} MiB/s)` +
    `  totals ${totals.map((t) => t.toFixed(0)).join(' / ')}`)
}
process.exit(0)
