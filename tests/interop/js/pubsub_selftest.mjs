#!/usr/bin/env node
// js<->js self-test of `peer.mjs pubsub`: three processes in a line, A -- B -- C (A and C not
// connected), and the command's exit paths.
//   node pubsub_selftest.mjs
// Checks that A's --publish texts reach B and C (C's through B), that a stdin line C publishes
// reaches A through B, that every node sees every message once (by author + seqno) with the
// seqno its author reported, that --exit-after-messages exits 0, and the exit codes for a
// missing subscriber (6), a usage error (2) and publishing to nobody (5). Exits 0 when every
// check passed. Bounded: every wait has a limit, and the whole run stops after 90 s.

import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const PEER = join(HERE, 'peer.mjs')
// B's fixed key (seed 32 x 0x01), so its peer id is known in advance.
const B_KEY_HEX = '0801124001010101010101010101010101010101010101010101010101010101010101018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c'
const B_PEER = '12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5'
const TOPIC = 'selftest'
const WAIT_MS = 15_000 // one event
const SETTLE_MS = 1500 // after the last expected message, for duplicates to show up
const procs = []

let failures = 0
function check (ok, what, detail = '') {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${what}${!ok && detail !== '' ? `: ${detail}` : ''}`)
  if (!ok) failures++
}

// The seqno digits as printed: JSON.parse would round a u64 seqno to a double.
function seqnoText (line) {
  return /"seqno":\s*(\d+)/.exec(line)?.[1] ?? null
}

// A peer.mjs process whose JSON lines are collected and can be waited for.
class Peer {
  constructor (name, args, { stdin = 'pipe' } = {}) {
    this.name = name
    this.events = []
    this.stderr = ''
    this.waiters = new Set()
    this.child = spawn(process.execPath, [PEER, ...args], { stdio: [stdin, 'pipe', 'pipe'] })
    procs.push(this)
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => {
      this.exit = { code, signal }
      resolve(code)
      this.notify()
    }))
    this.child.stderr.on('data', (d) => { this.stderr += d })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const evt = JSON.parse(line)
      if ('seqno' in evt) evt.seqno = seqnoText(line)
      this.events.push(evt)
      this.notify()
    })
  }

  notify () {
    for (const w of [...this.waiters]) w()
  }

  // Resolves with probe()'s first value other than undefined, checked now and after every new
  // line; rejects after `ms` or when the process exits first.
  waitUntil (probe, what, ms = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => done(reject, new Error(`${this.name}: no ${what} in ${ms} ms`)), ms)
      const done = (settle, value) => {
        clearTimeout(timer)
        this.waiters.delete(poll)
        settle(value)
      }
      const poll = () => {
        const hit = probe()
        if (hit !== undefined) done(resolve, hit)
        else if (this.exit !== undefined) {
          done(reject, new Error(`${this.name} exited without ${what}`))
        }
      }
      this.waiters.add(poll)
      poll()
    })
  }

  // The first event (seen or future) matching.
  waitFor (match, what, ms = WAIT_MS) {
    return this.waitUntil(() => this.events.find(match), what, ms)
  }

  async waitExit (ms = WAIT_MS) {
    let timer
    const limit = new Promise((resolve) => {
      timer = setTimeout(() => resolve('still running'), ms)
    })
    const code = await Promise.race([this.exited, limit])
    clearTimeout(timer)
    return code
  }

  messages () {
    return this.events.filter((e) => e.event === 'pubsub')
  }
}

async function start (name, args) {
  const p = new Peer(name, ['pubsub', '--topic', TOPIC, ...args])
  const l = await p.waitFor((e) => e.event === 'listening', '"listening"')
  p.addr = l.addr
  p.peer = l.peer
  return p
}

// Every message once, by (from, seqno), with exactly the expected texts.
function checkOnce (p, texts) {
  const msgs = p.messages()
  const keys = new Set(msgs.map((m) => `${m.from}/${m.seqno}`))
  check(keys.size === msgs.length, `${p.name} saw no message twice`, JSON.stringify(msgs))
  const got = msgs.map((m) => m.data).sort()
  check(JSON.stringify(got) === JSON.stringify([...texts].sort()),
    `${p.name} received exactly ${JSON.stringify(texts)}`, JSON.stringify(got))
}

async function main () {
  const b = await start('B', ['--key-hex', B_KEY_HEX])
  check(b.peer === B_PEER && b.addr.endsWith(`/p2p/${B_PEER}`), 'B listens with its --key-hex id')
  const c = await start('C', ['--connect', b.addr])
  await c.waitFor((e) => e.event === 'subscribed' && e.peer === B_PEER && e.topic === TOPIC,
    'B\'s subscription')
  await b.waitFor((e) => e.event === 'subscribed' && e.peer === c.peer, 'C\'s subscription')
  check(true, 'B and C see each other subscribed')

  // A waits for one subscriber (B), then publishes its two texts.
  const aTexts = ['a1', 'a2 ünïcödé "quoted" \\ back']
  const a = await start('A', ['--connect', b.addr, '--publish', aTexts[0], '--publish', aTexts[1]])
  const aPub = await a.waitUntil(() => {
    const published = a.events.filter((e) => e.event === 'published')
    return published.length >= aTexts.length ? published : undefined
  }, `${aTexts.length} "published"`)
  for (const [i, text] of aTexts.entries()) {
    check(/^\d+$/.test(aPub[i].seqno ?? '') && aPub[i].topic === TOPIC && aPub[i].recipients >= 1,
      `A published ${JSON.stringify(text)} (seqno ${aPub[i].seqno}, ` +
      `${aPub[i].recipients} recipient(s))`)
  }
  check(BigInt(aPub[1].seqno) > BigInt(aPub[0].seqno), 'A\'s seqnos increase')
  for (const [i, text] of aTexts.entries()) {
    const atC = await c.waitFor((e) => e.event === 'pubsub' && e.data === text, `A's ${text}`)
    check(atC.from === a.peer && atC.received_from === B_PEER && atC.seqno === aPub[i].seqno &&
      atC.topic === TOPIC, `C got A's message ${i + 1} through B with A's seqno`,
    JSON.stringify(atC))
    const atB = await b.waitFor((e) => e.event === 'pubsub' && e.data === text, `A's ${text}`)
    check(atB.from === a.peer && atB.received_from === a.peer && atB.seqno === aPub[i].seqno,
      `B got A's message ${i + 1} from A`, JSON.stringify(atB))
  }

  // C publishes a stdin line; A gets it through B.
  c.child.stdin.write('from C\n')
  const cPub = await c.waitFor((e) => e.event === 'published', 'published')
  const atA = await a.waitFor((e) => e.event === 'pubsub' && e.data === 'from C', 'C\'s line')
  check(atA.from === c.peer && atA.received_from === B_PEER && atA.seqno === cPub.seqno,
    'A got C\'s stdin line through B', JSON.stringify(atA))
  check(!a.events.some((e) => e.event === 'peer_connected' && e.peer === c.peer) &&
    !c.events.some((e) => e.event === 'peer_connected' && e.peer === a.peer),
  'A and C never connected')

  // D exits 0 after one message.
  const d = await start('D', ['--connect', b.addr, '--exit-after-messages', '1', '--ignore-stdin'])
  await b.waitFor((e) => e.event === 'subscribed' && e.peer === d.peer, 'D\'s subscription')
  c.child.stdin.write('for D\n')
  check(await d.waitExit() === 0, `D exits 0 after --exit-after-messages 1 (${d.stderr.trim()})`)
  check(d.messages().some((m) => m.data === 'for D' && m.from === c.peer), 'D got C\'s line')

  await sleep(SETTLE_MS)
  checkOnce(a, ['from C', 'for D'])
  checkOnce(b, [...aTexts, 'from C', 'for D'])
  checkOnce(c, aTexts)
  for (const p of [a, b, c]) {
    check(!p.events.some((e) => e.event === 'identify_error' || e.event === 'publish_error'),
      `${p.name} printed no identify_error / publish_error`)
  }

  // Exit codes.
  const lonely = new Peer('lonely', ['pubsub', '--topic', TOPIC, '--publish', 'x', '--ignore-stdin',
    '--timeout-ms', '1000'])
  check(await lonely.waitExit() === 6,
    `--publish with no subscriber exits 6 (${lonely.stderr.trim()})`)
  const usage = new Peer('usage', ['pubsub', '--publish', 'x'])
  check(await usage.waitExit() === 2, 'pubsub without --topic exits 2')
  const nobody = new Peer('nobody', ['pubsub', '--topic', TOPIC, '--publish', 'x',
    '--wait-subscribers', '0', '--ignore-stdin'])
  check(await nobody.waitExit() === 5, `publishing to nobody exits 5 (${nobody.stderr.trim()})`)
  // With --allow-publish-to-zero-peers it publishes to 0 peers; stdin at EOF then stops it (0).
  const zero = new Peer('zero', ['pubsub', '--topic', TOPIC, '--publish', 'x', '--wait-subscribers',
    '0', '--allow-publish-to-zero-peers'], { stdin: 'ignore' })
  check(await zero.waitExit() === 0 &&
    zero.events.some((e) => e.event === 'published' && e.recipients === 0),
  '--allow-publish-to-zero-peers publishes to 0 peers, then stdin EOF stops it (exit 0)')

  for (const p of [a, c, b]) {
    p.child.stdin.end()
    check(await p.waitExit() === 0, `${p.name} exits 0 when its stdin closes`)
  }
}

const limit = setTimeout(() => {
  console.log('FAIL pubsub selftest did not finish within 90 s')
  failures++
  finish()
}, 90_000)

function finish () {
  clearTimeout(limit)
  for (const p of procs) if (p.exit === undefined) p.child.kill('SIGKILL')
  if (failures > 0) {
    for (const p of procs) {
      if (p.stderr.trim() !== '') console.log(`--- ${p.name} stderr:\n${p.stderr.trim()}`)
    }
  }
  console.log(failures === 0
    ? 'pubsub selftest: all checks passed'
    : `pubsub selftest: ${failures} check(s) failed`)
  process.exit(failures === 0 ? 0 : 1)
}

main().then(finish, (err) => {
  console.log(`FAIL ${err.message}`)
  failures++
  finish()
})
