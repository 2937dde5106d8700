#!/usr/bin/env node
// js-libp2p peer for bb's interop tests. One CLI, JSON lines on stdout, diagnostics on stderr.
// See README.md for the commands, output events and exit codes.
//
// The node speaks exactly TCP + /noise + /yamux/1.0.0 and serves /ipfs/ping/1.0.0,
// /ipfs/id/1.0.0 and /perf/1.0.0. It has no peer discovery, no DHT, no relay, no connection
// monitor: the only dials it makes are the ones a command asks for.

// Must stay the first import: js-libp2p 3.x needs Promise.withResolvers, which Node 20 lacks.
import './polyfill.mjs'

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { isIPv4 } from 'node:net'

const PERF_PROTOCOL = '/perf/1.0.0'
// Zero-filled and never written, so one buffer can be queued many times without copying.
const PERF_CHUNK = new Uint8Array(64 * 1024)

const EXIT_OK = 0
const EXIT_INTERNAL = 1
const EXIT_USAGE = 2
const EXIT_DIAL = 3 // unreachable, handshake failed, wrong peer id
const EXIT_UNSUPPORTED = 4 // multistream-select answered "na"
const EXIT_PROTOCOL = 5 // protocol ran but the answer was wrong (bad identify, byte counts...)
const EXIT_TIMEOUT = 6

const USAGE = `usage:
  peer.mjs listen [--port N] [--host IP] [--key-hex HEX] [--ignore-stdin] [--no-perf]
  peer.mjs ping ADDR [--count N] [--key-hex HEX] [--timeout-ms MS]
  peer.mjs perf ADDR --upload BYTES --download BYTES [--key-hex HEX] [--timeout-ms MS]
  peer.mjs keygen [--key-hex HEX]
ADDR is a full multiaddr ending in /p2p/<peer id>.`

class CliError extends Error {
  constructor (code, message) {
    super(message)
    this.exitCode = code
  }
}

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (code, message) {
  process.stderr.write(`peer.mjs: ${message}\n`)
  process.exit(code)
}

function parseArgs (argv) {
  const positional = []
  const flags = {}
  const booleans = new Set(['ignore-stdin', 'no-perf'])
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '-h' || arg === '--help') {
      flags.help = true
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      if (eq !== -1) {
        flags[arg.slice(2, eq)] = arg.slice(eq + 1)
      } else if (booleans.has(arg.slice(2))) {
        flags[arg.slice(2)] = true
      } else {
        if (i + 1 >= argv.length) throw new CliError(EXIT_USAGE, `${arg} needs a value`)
        flags[arg.slice(2)] = argv[++i]
      }
    } else {
      positional.push(arg)
    }
  }
  return { positional, flags }
}

function intFlag (flags, name, fallback, min = 0) {
  const raw = flags[name]
  if (raw === undefined) {
    if (fallback === undefined) throw new CliError(EXIT_USAGE, `--${name} is required`)
    return fallback
  }
  if (!/^\d+$/.test(raw)) throw new CliError(EXIT_USAGE, `--${name} must be a non-negative integer`)
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min) {
    throw new CliError(EXIT_USAGE, `--${name} must be an integer >= ${min}`)
  }
  return value
}

function checkFlags (flags, allowed) {
  for (const name of Object.keys(flags)) {
    if (!allowed.includes(name)) throw new CliError(EXIT_USAGE, `unknown option --${name}`)
  }
}

async function loadKey (flags) {
  if (flags['key-hex'] === undefined) return generateKeyPair('Ed25519')
  const hex = flags['key-hex']
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new CliError(EXIT_USAGE, '--key-hex is not hex')
  try {
    const key = privateKeyFromProtobuf(Uint8Array.from(Buffer.from(hex, 'hex')))
    if (key.type !== 'Ed25519') throw new Error(`key type is ${key.type}`)
    return key
  } catch (err) {
    throw new CliError(EXIT_USAGE, `--key-hex is not a protobuf Ed25519 private key: ${err.message}`)
  }
}

function parseTarget (raw) {
  let ma
  try {
    ma = multiaddr(raw)
  } catch (err) {
    throw new CliError(EXIT_USAGE, `bad multiaddr ${JSON.stringify(raw)}: ${err.message}`)
  }
  const p2p = ma.getComponents().findLast((c) => c.code === CODE_P2P)
  if (p2p?.value == null) throw new CliError(EXIT_USAGE, `multiaddr ${raw} has no /p2p/<peer id>`)
  let peer
  try {
    peer = peerIdFromString(p2p.value)
  } catch (err) {
    throw new CliError(EXIT_USAGE, `bad peer id in ${raw}: ${err.message}`)
  }
  return { ma, peer }
}

async function createNode (privateKey, listenAddrs) {
  return createLibp2p({
    privateKey,
    addresses: { listen: listenAddrs },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    // The monitor pings every connection every 10 s and aborts it when that fails; tests want
    // only the traffic they ask for.
    connectionMonitor: { enabled: false },
    services: {
      ping: ping(),
      // Identify runs explicitly (see runIdentify) so its failures can be reported.
      identify: identify({ runOnConnectionOpen: false })
    }
  })
}

// Reads a stream until the remote closes its write side. Uses events rather than the async
// iterator because the iterator misses a FIN that arrived before it was attached.
function readUntilEnd (stream, onChunk) {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
    }
    const onMessage = (evt) => {
      try {
        onChunk(evt.data)
      } catch (err) {
        cleanup()
        reject(err)
      }
    }
    const onEnd = () => {
      cleanup()
      resolve()
    }
    const onClose = (evt) => {
      cleanup()
      if (evt.error != null) reject(evt.error)
      else resolve()
    }
    if (stream.readableEnded) {
      resolve()
      return
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
  })
}

async function sendZeros (stream, count, signal) {
  let left = count
  while (left > 0) {
    const len = Math.min(left, PERF_CHUNK.byteLength)
    left -= len
    if (!stream.send(len === PERF_CHUNK.byteLength ? PERF_CHUNK : PERF_CHUNK.subarray(0, len))) {
      await stream.onDrain({ signal })
    }
  }
}

// /perf/1.0.0 server: u64 BE "bytes to send back", then the upload until EOF, then the reply.
async function handlePerf (stream, connection) {
  const header = new Uint8Array(8)
  let headerLen = 0
  let uploaded = 0
  try {
    await readUntilEnd(stream, (chunk) => {
      let offset = 0
      if (headerLen < 8) {
        offset = Math.min(8 - headerLen, chunk.byteLength)
        header.set(chunk.subarray(0, offset), headerLen)
        headerLen += offset
      }
      uploaded += chunk.byteLength - offset
    })
    if (headerLen < 8) throw new Error(`perf request ended after ${headerLen} header bytes`)
    const wanted = new DataView(header.buffer).getBigUint64(0, false)
    if (wanted > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`perf request for ${wanted} bytes`)
    await sendZeros(stream, Number(wanted))
    await stream.close()
    emit({
      event: 'perf_served',
      peer: connection.remotePeer.toString(),
      upload_bytes: uploaded,
      download_bytes: Number(wanted)
    })
  } catch (err) {
    process.stderr.write(`peer.mjs: perf handler: ${err.message}\n`)
    stream.abort(err)
  }
}

function identifyEvent (result) {
  return {
    event: 'identify',
    peer: result.peerId.toString(),
    agentVersion: result.agentVersion ?? null,
    protocolVersion: result.protocolVersion ?? null,
    protocols: result.protocols,
    listenAddrs: result.listenAddrs.map((ma) => ma.toString()),
    observedAddr: result.observedAddr?.toString() ?? null,
    signedPeerRecordAddrs: result.signedPeerRecord?.addresses.map((ma) => ma.toString()) ?? null
  }
}

function classify (err, phase) {
  if (err instanceof CliError) return err
  const name = err?.name ?? ''
  const detail = `${phase}: ${name !== '' ? name + ': ' : ''}${err?.message ?? err}`
  if (name === 'TimeoutError' || name === 'AbortError') return new CliError(EXIT_TIMEOUT, detail)
  if (name === 'UnsupportedProtocolError') return new CliError(EXIT_UNSUPPORTED, detail)
  if (phase === 'dial') return new CliError(EXIT_DIAL, detail)
  return new CliError(EXIT_PROTOCOL, detail)
}

async function step (phase, fn) {
  try {
    return await fn()
  } catch (err) {
    throw classify(err, phase)
  }
}

async function dialTarget (node, target, timeoutMs) {
  const conn = await step('dial', () =>
    node.dial(target.ma, { signal: AbortSignal.timeout(timeoutMs) }))
  if (!conn.remotePeer.equals(target.peer)) {
    throw new CliError(EXIT_DIAL, `dial: connected to ${conn.remotePeer}, wanted ${target.peer}`)
  }
  return conn
}

async function cmdListen (flags) {
  checkFlags(flags, ['port', 'host', 'key-hex', 'ignore-stdin', 'no-perf'])
  const port = intFlag(flags, 'port', 0)
  if (port > 65535) throw new CliError(EXIT_USAGE, '--port must be <= 65535')
  const host = flags.host ?? '127.0.0.1'
  if (!isIPv4(host)) throw new CliError(EXIT_USAGE, '--host must be an IPv4 address')
  const node = await createNode(await loadKey(flags), [`/ip4/${host}/tcp/${port}`])

  node.addEventListener('connection:open', (evt) => {
    const conn = evt.detail
    emit({
      event: 'peer_connected',
      peer: conn.remotePeer.toString(),
      remote_addr: conn.remoteAddr.toString(),
      direction: conn.direction,
      encryption: conn.encryption ?? null,
      multiplexer: conn.multiplexer ?? null
    })
    node.services.identify.identify(conn, { signal: AbortSignal.timeout(10_000) }).then(
      (result) => emit(identifyEvent(result)),
      (err) => emit({
        event: 'identify_error',
        peer: conn.remotePeer.toString(),
        error: `${err?.name ?? 'Error'}: ${err?.message ?? err}`
      }))
  })
  node.addEventListener('connection:close', (evt) => {
    emit({ event: 'peer_disconnected', peer: evt.detail.remotePeer.toString() })
  })
  // --no-perf leaves /perf/1.0.0 unserved, to test a dialer's "protocol not supported" path.
  if (flags['no-perf'] !== true) {
    await node.handle(PERF_PROTOCOL, handlePerf, { maxInboundStreams: 16, runOnLimitedConnection: true })
  }

  const addrs = node.getMultiaddrs()
  if (addrs.length === 0) throw new CliError(EXIT_INTERNAL, 'node has no listen address')
  emit({ event: 'listening', addr: addrs[0].toString(), peer: node.peerId.toString() })

  let stopping = false
  const stop = (why) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`peer.mjs: stopping (${why})\n`)
    const timer = setTimeout(() => fail(EXIT_INTERNAL, 'stop timed out'), 5000)
    node.stop().then(() => {
      clearTimeout(timer)
      process.exit(EXIT_OK)
    }, (err) => fail(EXIT_INTERNAL, `stop failed: ${err.message}`))
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  if (flags['ignore-stdin'] !== true) {
    process.stdin.on('end', () => stop('stdin closed'))
    process.stdin.on('error', () => stop('stdin error'))
    process.stdin.resume()
  }
}

async function cmdPing (target, flags) {
  checkFlags(flags, ['count', 'key-hex', 'timeout-ms'])
  const count = intFlag(flags, 'count', 1, 1)
  const timeoutMs = intFlag(flags, 'timeout-ms', 10_000, 1)
  const node = await createNode(await loadKey(flags), [])
  try {
    const conn = await dialTarget(node, target, timeoutMs)
    for (let i = 0; i < count; i++) {
      const start = performance.now()
      const rtt = await step('ping', () =>
        node.services.ping.ping(conn.remotePeer, { signal: AbortSignal.timeout(timeoutMs) }))
      // rtt_ms is the ping service's figure (Date.now() resolution, 32-byte echo only);
      // elapsed_ms also covers opening the stream and multistream-select.
      emit({ event: 'ping', rtt_ms: rtt, elapsed_ms: round3(performance.now() - start) })
    }
    const result = await step('identify', () =>
      node.services.identify.identify(conn, { signal: AbortSignal.timeout(timeoutMs) }))
    emit(identifyEvent(result))
  } finally {
    await node.stop()
  }
}

async function cmdPerf (target, flags) {
  checkFlags(flags, ['upload', 'download', 'key-hex', 'timeout-ms'])
  const upload = intFlag(flags, 'upload')
  const download = intFlag(flags, 'download')
  const timeoutMs = intFlag(flags, 'timeout-ms', 300_000, 1)
  const signal = AbortSignal.timeout(timeoutMs)
  const node = await createNode(await loadKey(flags), [])
  try {
    const conn = await dialTarget(node, target, timeoutMs)
    const stream = await step('perf', () => conn.newStream(PERF_PROTOCOL, { signal }))
    const result = await step('perf', async () => {
      let received = 0
      let receivedEarly = 0
      let finSent = false
      let firstByte = null
      // Listen before writing so nothing the server sends can sit unread in the stream buffer.
      const reading = readUntilEnd(stream, (chunk) => {
        if (firstByte === null && chunk.byteLength > 0) firstByte = performance.now()
        received += chunk.byteLength
        if (!finSent) receivedEarly += chunk.byteLength
      }).then(() => performance.now())
      reading.catch(() => {}) // awaited below; avoids an unhandled rejection while uploading
      try {
        const start = performance.now()
        const header = new Uint8Array(8)
        new DataView(header.buffer).setBigUint64(0, BigInt(download), false)
        stream.send(header)
        await sendZeros(stream, upload, signal)
        finSent = true
        await stream.close({ signal })
        const end = await Promise.race([reading, abortPromise(signal)])
        // The server answers only after it has read the whole upload, so the first reply byte
        // marks the end of the upload better than close() resolving, which only means the
        // bytes were handed to yamux (up to a 16 MiB window can still be in flight).
        const uploadEnd = firstByte ?? end
        return { start, uploadEnd, downloadEnd: end, received, receivedEarly }
      } catch (err) {
        stream.abort(err)
        throw err
      }
    })
    if (result.receivedEarly > 0) {
      throw new CliError(EXIT_PROTOCOL,
        `perf: server sent ${result.receivedEarly} bytes before the upload was closed`)
    }
    if (result.received !== download) {
      throw new CliError(EXIT_PROTOCOL, `perf: asked for ${download} bytes, got ${result.received}`)
    }
    const upSec = (result.uploadEnd - result.start) / 1000
    const downSec = (result.downloadEnd - result.uploadEnd) / 1000
    emit({
      event: 'perf',
      upload_bytes: upload,
      download_bytes: result.received,
      upload_seconds: round6(upSec),
      download_seconds: round6(downSec),
      total_seconds: round6(upSec + downSec),
      upload_mbps: mbps(upload, upSec),
      download_mbps: mbps(result.received, downSec),
      total_mbps: mbps(upload + result.received, upSec + downSec)
    })
  } finally {
    await node.stop()
  }
}

async function cmdKeygen (flags) {
  checkFlags(flags, ['key-hex'])
  const key = await loadKey(flags)
  emit({
    event: 'key',
    key_hex: Buffer.from(privateKeyToProtobuf(key)).toString('hex'),
    peer: peerIdFromPrivateKey(key).toString()
  })
}

function abortPromise (signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) reject(signal.reason)
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}

function mbps (bytes, seconds) {
  return seconds > 0 ? round3((bytes * 8) / seconds / 1e6) : null
}

function round3 (x) {
  return Math.round(x * 1e3) / 1e3
}

function round6 (x) {
  return Math.round(x * 1e6) / 1e6
}

async function main () {
  const { positional, flags } = parseArgs(process.argv.slice(2))
  if (flags.help === true) {
    process.stdout.write(USAGE + '\n')
    return EXIT_OK
  }
  const [command, ...rest] = positional
  const wantArgs = { listen: 0, ping: 1, perf: 1, keygen: 0 }
  if (!(command in wantArgs)) throw new CliError(EXIT_USAGE, `unknown command ${command ?? '(none)'}`)
  if (rest.length !== wantArgs[command]) {
    throw new CliError(EXIT_USAGE, `${command} takes ${wantArgs[command]} positional argument(s)`)
  }
  switch (command) {
    case 'listen': await cmdListen(flags); return null // runs until told to stop
    case 'ping': await cmdPing(parseTarget(rest[0]), flags); return EXIT_OK
    case 'perf': await cmdPerf(parseTarget(rest[0]), flags); return EXIT_OK
    case 'keygen': await cmdKeygen(flags); return EXIT_OK
  }
}

main().then((code) => {
  if (code != null) process.exit(code)
}, (err) => {
  if (err instanceof CliError) {
    if (err.exitCode === EXIT_USAGE) process.stderr.write(USAGE + '\n')
    fail(err.exitCode, err.message)
  }
  fail(EXIT_INTERNAL, `internal error: ${err?.stack ?? err}`)
})
