#!/usr/bin/env node
// js<->js self-test of peer.mjs: a listener, then ping, perf and the failure exit codes against it.
//   node selftest.mjs [--perf-runs N] [--perf-bytes BYTES]
// --perf-runs N (default 0) adds N perf runs of --perf-bytes (default 100 MiB) each way and
// prints their median: the js<->js baseline bb is compared with.
// Exits 0 when every check passed.

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const PEER = join(HERE, 'peer.mjs')
// A fixed key, so the listener's peer id is known in advance (and the key path is tested).
const KEY_HEX = '0801124001010101010101010101010101010101010101010101010101010101010101018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c'
const KEY_PEER = '12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5'

function argValue (name, fallback) {
  const i = process.argv.indexOf(name)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const perfRuns = argValue('--perf-runs', 0)
const perfBytes = argValue('--perf-bytes', 104857600)

let failures = 0
function check (ok, what) {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${what}`)
  if (!ok) failures++
}

// Runs peer.mjs to completion; returns exit code, parsed stdout lines and stderr.
async function run (args, timeoutMs = 120_000) {
  const child = spawn(process.execPath, [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { err += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code] = await once(child, 'exit')
  clearTimeout(timer)
  const events = out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
  return { code, events, stderr: err.trim() }
}

async function startListener (extraArgs = []) {
  const child = spawn(process.execPath, [PEER, 'listen', '--key-hex', KEY_HEX, ...extraArgs],
    { stdio: ['pipe', 'pipe', 'inherit'] })
  const events = []
  const waiters = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    const evt = JSON.parse(line)
    events.push(evt)
    for (const w of [...waiters]) {
      if (w.match(evt)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(evt)
      }
    }
  })
  const waitFor = (match, timeoutMs = 10_000) => {
    const seen = events.find(match)
    if (seen != null) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const w = { match, resolve }
      waiters.push(w)
      setTimeout(() => reject(new Error('timed out waiting for listener event')), timeoutMs)
    })
  }
  const listening = await waitFor((e) => e.event === 'listening')
  return { child, events, waitFor, addr: listening.addr }
}

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

async function main () {
  const key = await run(['keygen', '--key-hex', KEY_HEX])
  check(key.code === 0 && key.events[0]?.peer === KEY_PEER, `keygen --key-hex gives ${KEY_PEER}`)

  const listener = await startListener()
  console.log(`listener: ${listener.addr}`)
  check(listener.addr.endsWith(`/p2p/${KEY_PEER}`), 'listener uses the --key-hex peer id')

  const p = await run(['ping', listener.addr, '--count', '3'])
  for (const e of p.events) console.log(`  ${JSON.stringify(e)}`)
  const pings = p.events.filter((e) => e.event === 'ping')
  const id = p.events.find((e) => e.event === 'identify')
  check(p.code === 0, `ping exits 0 (got ${p.code}: ${p.stderr})`)
  check(pings.length === 3 && pings.every((e) => typeof e.rtt_ms === 'number'), 'three ping events')
  check(id?.peer === KEY_PEER, 'identify names the listener')
  check(/^js-libp2p\//.test(id?.agentVersion ?? ''), 'identify agentVersion is js-libp2p/...')
  check(id?.protocolVersion === 'ipfs/0.1.0', 'identify protocolVersion is ipfs/0.1.0')
  for (const proto of ['/ipfs/ping/1.0.0', '/ipfs/id/1.0.0', '/perf/1.0.0']) {
    check(id?.protocols.includes(proto), `identify lists ${proto}`)
  }
  check(id?.listenAddrs.includes(listener.addr.replace(/\/p2p\/.*$/, '')), 'identify lists the listen addr')
  // js reports the observed addr with the observer's /p2p/<peer id> of us appended.
  check(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+(\/p2p\/\w+)?$/.test(id?.observedAddr ?? ''), 'identify has observedAddr')

  // The listener identifies every inbound peer too; its view of the ping client must be sane.
  const clientId = await listener.waitFor((e) => e.event === 'identify' && e.peer !== KEY_PEER)
  check(/^js-libp2p\//.test(clientId.agentVersion ?? ''), 'listener identified the ping client')
  check(listener.events.some((e) => e.event === 'peer_connected' && e.direction === 'inbound' &&
    e.encryption === '/noise' && e.multiplexer === '/yamux/1.0.0'), 'listener saw /noise + /yamux/1.0.0')
  await listener.waitFor((e) => e.event === 'peer_disconnected')
  check(true, 'listener saw the ping client disconnect')

  const small = await run(['perf', listener.addr, '--upload', '10485760', '--download', '10485760'])
  for (const e of small.events) console.log(`  ${JSON.stringify(e)}`)
  const pe = small.events.find((e) => e.event === 'perf')
  check(small.code === 0, `perf 10 MiB exits 0 (got ${small.code}: ${small.stderr})`)
  check(pe?.upload_bytes === 10485760 && pe?.download_bytes === 10485760, 'perf byte counts')
  const served = await listener.waitFor((e) => e.event === 'perf_served')
  check(served.upload_bytes === 10485760 && served.download_bytes === 10485760, 'perf_served byte counts')

  const zero = await run(['perf', listener.addr, '--upload', '0', '--download', '0'])
  check(zero.code === 0 && zero.events[0]?.download_bytes === 0, 'perf 0/0 exits 0')

  // Failure exit codes.
  const port = Number(listener.addr.split('/')[4])
  const wrongPeer = listener.addr.replace(KEY_PEER, '12D3KooWNNTjBz67rFGFRnXY9PxQaFv1zqGXVrKn26UyZ3RFM2AN')
  const bad = await run(['ping', wrongPeer, '--timeout-ms', '5000'])
  check(bad.code === 3, `wrong peer id exits 3 (got ${bad.code}: ${bad.stderr})`)
  const closed = await run(['ping', `/ip4/127.0.0.1/tcp/1/p2p/${KEY_PEER}`, '--timeout-ms', '5000'])
  check(closed.code === 3, `unreachable exits 3 (got ${closed.code}: ${closed.stderr})`)
  const usage = await run(['ping', `/ip4/127.0.0.1/tcp/${port}`])
  check(usage.code === 2, `addr without /p2p exits 2 (got ${usage.code})`)

  // A TCP server that accepts and never answers: the dial must time out.
  const sockets = []
  const silent = createServer((sock) => sockets.push(sock)).listen(0, '127.0.0.1')
  await once(silent, 'listening')
  const silentAddr = `/ip4/127.0.0.1/tcp/${silent.address().port}/p2p/${KEY_PEER}`
  const hung = await run(['ping', silentAddr, '--timeout-ms', '1000'])
  check(hung.code === 6, `silent server exits 6 (got ${hung.code}: ${hung.stderr})`)
  for (const sock of sockets) sock.destroy()
  silent.close()

  // A listener without /perf/1.0.0: perf must report the protocol as unsupported.
  const noPerf = await startListener(['--no-perf', '--port', '0'])
  const unsup = await run(['perf', noPerf.addr, '--upload', '1', '--download', '1'])
  check(unsup.code === 4, `unsupported protocol exits 4 (got ${unsup.code}: ${unsup.stderr})`)
  noPerf.child.kill('SIGTERM')
  const [noPerfCode] = await once(noPerf.child, 'exit')
  check(noPerfCode === 0, `listener exits 0 on SIGTERM (got ${noPerfCode})`)

  if (perfRuns > 0) {
    const up = []
    const down = []
    const total = []
    for (let i = 0; i < perfRuns; i++) {
      const r = await run(['perf', listener.addr, '--upload', String(perfBytes), '--download', String(perfBytes)])
      const e = r.events.find((x) => x.event === 'perf')
      check(r.code === 0 && e?.download_bytes === perfBytes, `perf run ${i + 1} (${perfBytes} B each way)`)
      if (e != null) {
        console.log(`  ${JSON.stringify(e)}`)
        up.push(e.upload_mbps)
        down.push(e.download_mbps)
        total.push(e.total_mbps)
      }
    }
    if (up.length > 0) {
      console.log(`perf median over ${up.length} runs of ${perfBytes} B: ` +
        `upload ${median(up)} Mbit/s, download ${median(down)} Mbit/s, ` +
        `total (both directions over total time) ${median(total)} Mbit/s`)
    }
  }

  // Closing stdin must stop the listener cleanly.
  listener.child.stdin.end()
  const [code] = await once(listener.child, 'exit')
  check(code === 0, `listener exits 0 when stdin closes (got ${code})`)

  console.log(failures === 0 ? 'selftest: all checks passed' : `selftest: ${failures} check(s) failed`)
  process.exit(failures === 0 ? 0 : 1)
}

main().catch((err) => {
  console.error(`selftest: ${err.stack ?? err}`)
  process.exit(1)
})
