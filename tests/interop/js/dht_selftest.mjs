#!/usr/bin/env node
// js<->js self-test of `peer.mjs dht`: a chain J1 — J2 — J3 (J2 bootstraps to J1, J3 to J2, J3
// provides a CID); a fourth node that knows only J1 finds J3 by its peer id and as the CID's
// provider, and a lookup of a peer nobody knows ends with exit 6. Every wait is on output and
// bounded. Exits 0 when every check passed.

import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const PEER = join(HERE, 'peer.mjs')
const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' // raw "hello world"
const NOBODY = '12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq' // no process holds its key
const WAIT_MS = 30_000

let failures = 0
function check (ok, what, detail = '') {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${what}${ok || detail === '' ? '' : `: ${detail}`}`)
  if (!ok) failures++
  return ok
}

const children = []
process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })

// Starts `peer.mjs dht ARGS`; resolves with { child, events, waitFor, exited }.
function start (args) {
  const child = spawn(process.execPath, [PEER, 'dht', ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  children.push(child)
  const events = []
  const waiters = new Set()
  createInterface({ input: child.stdout }).on('line', (line) => {
    events.push(JSON.parse(line))
    for (const w of [...waiters]) w()
  })
  const exited = new Promise((resolve) => child.on('exit', (code) => {
    resolve(code)
    for (const w of [...waiters]) w()
  }))
  const waitFor = (match, what, ms = WAIT_MS) => new Promise((resolve, reject) => {
    const poll = () => {
      const hit = events.find(match)
      if (hit !== undefined) { done(); resolve(hit) } else if (child.exitCode !== null) {
        done()
        reject(new Error(`exited ${child.exitCode} without ${what}`))
      }
    }
    const timer = setTimeout(() => { done(); reject(new Error(`no ${what} in ${ms} ms`)) }, ms)
    const done = () => { clearTimeout(timer); waiters.delete(poll) }
    waiters.add(poll)
    poll()
  })
  return { child, events, waitFor, exited }
}

async function up (args) {
  const p = start(args)
  const l = await p.waitFor((e) => e.event === 'listening', 'listening')
  p.addr = l.addr
  p.peer = l.peer
  return p
}

function bounded (promise, ms, what) {
  let timer
  return Promise.race([promise, new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not done in ${ms} ms`)), ms)
  })]).finally(() => clearTimeout(timer))
}

async function main () {
  const j1 = await up([])
  const j2 = await up(['--bootstrap', j1.addr])
  await j2.waitFor((e) => e.event === 'done', 'J2 done')
  const j3 = await up(['--bootstrap', j2.addr, '--provide', CID])
  const provided = await j3.waitFor((e) => e.event === 'provided' || e.event === 'done', 'J3 provided')
  check(provided.event === 'provided', 'J3 provided the CID', JSON.stringify(provided))

  const j4 = start(['--bootstrap', j1.addr, '--find-peer', j3.peer, '--find-providers', CID,
    '--exit', '--timeout-ms', String(WAIT_MS)])
  const code = await bounded(j4.exited, WAIT_MS + 10_000, 'J4')
  check(code === 0, 'J4 (knows only J1) exits 0', `exit ${code}`)
  const found = j4.events.find((e) => e.event === 'found_peer')
  check(found?.peer === j3.peer && found.addrs.some((a) => j3.addr.startsWith(a)),
    'J4 found J3 and its address', JSON.stringify(found))
  const providers = j4.events.find((e) => e.event === 'providers')
  check(providers?.providers.some((p) => p.peer === j3.peer), 'J4 found J3 as the CID\'s provider',
    JSON.stringify(providers))

  const j5 = start(['--bootstrap', j1.addr, '--find-peer', NOBODY, '--exit', '--timeout-ms', '3000'])
  const code5 = await bounded(j5.exited, 20_000, 'J5')
  check(code5 === 6 && j5.events.some((e) => e.event === 'not_found'),
    'a peer nobody knows: not_found, exit 6', `exit ${code5}`)

  for (const p of [j1, j2, j3]) p.child.stdin.end()
  for (const p of [j1, j2, j3]) {
    const c = await bounded(p.exited, 10_000, 'stop')
    check(c === 0, 'a dht node exits 0 when its stdin closes', `exit ${c}`)
  }
}

main().then(() => process.exit(failures === 0 ? 0 : 1), (err) => {
  console.log(`FAIL ${err.message}`)
  process.exit(1)
})
