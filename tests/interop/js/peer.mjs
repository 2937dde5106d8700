#!/usr/bin/env node
// js-libp2p peer for bb's interop tests. One CLI, JSON lines on stdout, diagnostics on stderr.
// See README.md for the commands, output events and exit codes.
//
// The node speaks exactly TCP + /noise + /yamux/1.0.0 and serves /ipfs/ping/1.0.0,
// /ipfs/id/1.0.0 and /perf/1.0.0; `listen` and `pubsub` also serve gossipsub (/meshsub/1.2.0,
// 1.1.0, 1.0.0 and /floodsub/1.0.0). It has no peer discovery, no DHT, no relay, no connection
// monitor: the only dials it makes are the ones a command asks for (see stack.mjs), and in `dht`
// the ones its Kademlia queries make (/ipfs/kad/1.0.0).

// Must stay the first import: js-libp2p 3.x needs Promise.withResolvers, which Node 20 lacks.
import './polyfill.mjs'

import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { randomUUID } from 'node:crypto'
import { isIPv4 } from 'node:net'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { createNode, dhtOptions, gossipsubOptions } from './stack.mjs'

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
  peer.mjs pubsub --topic T [--topic T2 ...] [--port N] [--host IP] [--key-hex HEX]
                  [--connect ADDR ...] [--publish TEXT ...] [--publish-count N]
                  [--publish-interval-ms MS] [--wait-subscribers N] [--exit-after-messages N]
                  [--allow-publish-to-zero-peers] [--ignore-stdin] [--timeout-ms MS]
  peer.mjs ping ADDR [--count N] [--key-hex HEX] [--timeout-ms MS]
  peer.mjs perf ADDR --upload BYTES --download BYTES [--key-hex HEX] [--timeout-ms MS]
  peer.mjs dht [--port N] [--host IP] [--key-hex HEX] [--client] [--bootstrap ADDR ...]
              [--provide CID ...] [--find-providers CID ...] [--find-peer PEERID ...]
              [--closest-peers PEERID ...] [--timeout-ms MS] [--exit] [--ignore-stdin]
  peer.mjs keygen [--key-hex HEX]
ADDR is a full multiaddr ending in /p2p/<peer id>.`

class CliError extends Error {
  constructor (code, message) {
    super(message)
    this.exitCode = code
  }
}

// JSON.stringify cannot write a BigInt, and a pubsub seqno does not fit a JS number: it is a u64
// that js-libp2p seeds from the clock in nanoseconds (about 1.8e18, above 2^53). A BigInt value
// is written as its exact decimal digits (a valid JSON number); readers that parse numbers into
// doubles (JSON.parse) must take those digits from the text. The slot is a string no data can
// equal, replaced in the text after stringifying.
const BIGINT_SLOT = JSON.stringify(`\u0000bigint:${randomUUID()}`)

function emit (obj) {
  const bigints = []
  let text = JSON.stringify(obj, (_key, value) => {
    if (typeof value !== 'bigint') return value
    bigints.push(value)
    return JSON.parse(BIGINT_SLOT)
  })
  if (bigints.length > 0) {
    let i = 0
    text = text.replaceAll(BIGINT_SLOT, () => bigints[i++].toString())
  }
  process.stdout.write(text + '\n')
}

function fail (code, message) {
  process.stderr.write(`peer.mjs: ${message}\n`)
  process.exit(code)
}

// Options that may be given more than once; their value is always an array.
const REPEATABLE = new Set(['topic', 'connect', 'publish', 'bootstrap', 'provide',
  'find-providers', 'find-peer', 'closest-peers'])

function parseArgs (argv) {
  const positional = []
  const flags = {}
  const booleans = new Set(['ignore-stdin', 'no-perf', 'allow-publish-to-zero-peers', 'client',
    'exit'])
  const set = (name, value) => {
    if (REPEATABLE.has(name)) (flags[name] ??= []).push(value)
    else flags[name] = value
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '-h' || arg === '--help') {
      flags.help = true
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      if (eq !== -1) {
        set(arg.slice(2, eq), arg.slice(eq + 1))
      } else if (booleans.has(arg.slice(2))) {
        flags[arg.slice(2)] = true
      } else {
        if (i + 1 >= argv.length) throw new CliError(EXIT_USAGE, `${arg} needs a value`)
        set(arg.slice(2), argv[++i])
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

function listenAddr (flags) {
  const port = intFlag(flags, 'port', 0)
  if (port > 65535) throw new CliError(EXIT_USAGE, '--port must be <= 65535')
  const host = flags.host ?? '127.0.0.1'
  if (!isIPv4(host)) throw new CliError(EXIT_USAGE, '--host must be an IPv4 address')
  return `/ip4/${host}/tcp/${port}`
}

// Prints peer_connected / peer_disconnected for every connection, and identifies every remote
// (printing identify or identify_error), which also tells gossipsub which peers speak it.
function watchConnections (node) {
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
}

// The first line of listen and pubsub: where to dial this node.
function announce (node) {
  const addrs = node.getMultiaddrs().map((ma) => ma.toString())
  if (addrs.length === 0) throw new CliError(EXIT_INTERNAL, 'node has no listen address')
  emit({ event: 'listening', addr: addrs[0], addrs, peer: node.peerId.toString() })
}

// Returns stop(why): stops the node once and exits 0 (1 if stopping fails or takes over 5 s).
// SIGTERM and SIGINT call it.
function stopper (node) {
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
  return stop
}

async function cmdListen (flags) {
  checkFlags(flags, ['port', 'host', 'key-hex', 'ignore-stdin', 'no-perf'])
  const node = await createNode(await loadKey(flags), [listenAddr(flags)],
    { pubsub: gossipsubOptions() })
  watchConnections(node)
  // --no-perf leaves /perf/1.0.0 unserved, to test a dialer's "protocol not supported" path.
  if (flags['no-perf'] !== true) {
    await node.handle(PERF_PROTOCOL, handlePerf, { maxInboundStreams: 16, runOnLimitedConnection: true })
  }
  announce(node)

  const stop = stopper(node)
  if (flags['ignore-stdin'] !== true) {
    process.stdin.on('end', () => stop('stdin closed'))
    process.stdin.on('error', () => stop('stdin error'))
    process.stdin.resume()
  }
}

// gossipsub's publish() returns only the recipients, not the seqno it gave the message. It
// computes the message id right after building and signing the message, with the message whose
// `data` is the very Uint8Array passed to publish(); so the instance's message-id function (still
// gossipsub's default, author + seqno) is wrapped to note each message's seqno under its data
// array. Received messages pass through too, each under its own fresh array (a WeakMap, so
// nothing is kept).
function observeSeqnos (pubsub) {
  const byData = new WeakMap()
  const msgIdFn = pubsub.msgIdFn
  if (typeof msgIdFn !== 'function') throw new CliError(EXIT_INTERNAL, 'gossipsub has no msgIdFn')
  pubsub.msgIdFn = (msg) => {
    if (msg.type === 'signed') byData.set(msg.data, msg.sequenceNumber)
    return msgIdFn.call(pubsub, msg)
  }
  return byData
}

// Peers subscribed to `topic` that this node can send to now. gossipsub learns a subscription
// on the stream the peer opened to us, but sends on its own stream to the peer, which it opens
// separately (once identify has run); until that exists, publish() skips the peer without error
// (it is then missing from the recipients). `streamsOutbound` is gossipsub's map of those streams
// by peer id: internal, but there is no public way to ask (pinned to @libp2p/gossipsub 17.1.1).
function reachableSubscribers (pubsub, topic) {
  return pubsub.getSubscribers(topic).filter((peer) => pubsub.streamsOutbound.has(peer.toString()))
    .length
}

// Resolves once done() is true, checking it on every 'change' event of `changes` and every
// 50 ms (a stream opening raises no event); rejects with EXIT_TIMEOUT after `ms`.
function waitUntil (changes, done, ms, what) {
  if (done()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onChange = () => {
      if (!done()) return
      cleanup()
      resolve()
    }
    const poll = setInterval(onChange, 50)
    const timer = setTimeout(() => {
      cleanup()
      reject(new CliError(EXIT_TIMEOUT, `waited ${ms} ms for ${what}`))
    }, ms)
    const cleanup = () => {
      clearInterval(poll)
      clearTimeout(timer)
      changes.removeEventListener('change', onChange)
    }
    changes.addEventListener('change', onChange)
  })
}

// After --exit-after-messages is met: lets what this node forwards or published last leave
// before the connections close.
const EXIT_LINGER_MS = 500
const UTF8_DECODER = new TextDecoder() // invalid UTF-8 becomes U+FFFD
const UTF8_ENCODER = new TextEncoder()

async function cmdPubsub (flags) {
  checkFlags(flags, ['topic', 'port', 'host', 'key-hex', 'connect', 'publish', 'publish-count',
    'publish-interval-ms', 'wait-subscribers', 'exit-after-messages',
    'allow-publish-to-zero-peers', 'ignore-stdin', 'timeout-ms'])
  const topics = flags.topic ?? []
  if (topics.length === 0) throw new CliError(EXIT_USAGE, '--topic is required')
  const topic = topics[0] // where --publish texts and stdin lines go
  const targets = (flags.connect ?? []).map(parseTarget)
  const texts = flags.publish ?? []
  const publishCount = intFlag(flags, 'publish-count', 1, 1)
  if (flags['publish-count'] !== undefined && texts.length === 0) {
    throw new CliError(EXIT_USAGE, '--publish-count needs --publish')
  }
  const intervalMs = intFlag(flags, 'publish-interval-ms', 0)
  const wantSubscribers = intFlag(flags, 'wait-subscribers', 1)
  const exitAfter = flags['exit-after-messages'] === undefined
    ? null
    : intFlag(flags, 'exit-after-messages', undefined, 1)
  const timeoutMs = intFlag(flags, 'timeout-ms', 30_000, 1)
  const node = await createNode(await loadKey(flags), [listenAddr(flags)], {
    pubsub: gossipsubOptions({
      allowPublishToZeroTopicPeers: flags['allow-publish-to-zero-peers'] === true
    })
  })
  const pubsub = node.services.pubsub
  if (!(pubsub.streamsOutbound instanceof Map)) {
    throw new CliError(EXIT_INTERNAL, 'gossipsub has no streamsOutbound map (not 17.1.1?)')
  }
  const seqnos = observeSeqnos(pubsub)
  const changes = new EventTarget() // 'change' after each subscription change and message
  const until = (done, what) => waitUntil(changes, done, timeoutMs, what)
  let received = 0

  watchConnections(node)
  pubsub.addEventListener('subscription-change', (evt) => {
    const peer = evt.detail.peerId.toString()
    for (const sub of evt.detail.subscriptions) {
      emit({ event: sub.subscribe ? 'subscribed' : 'unsubscribed', peer, topic: sub.topic })
    }
    changes.dispatchEvent(new Event('change'))
  })
  // 'gossipsub:message' rather than 'message': it also names the peer the message came from.
  // Only messages on subscribed topics, each once (duplicates are dropped before), never our own.
  pubsub.addEventListener('gossipsub:message', (evt) => {
    const { propagationSource, msg } = evt.detail
    const signed = msg.type === 'signed'
    emit({
      event: 'pubsub',
      topic: msg.topic,
      from: signed ? msg.from.toString() : null,
      seqno: signed ? msg.sequenceNumber : null,
      data: UTF8_DECODER.decode(msg.data),
      received_from: propagationSource.toString()
    })
    received++
    changes.dispatchEvent(new Event('change'))
  })
  for (const t of topics) pubsub.subscribe(t)
  announce(node)
  const stop = stopper(node)

  for (const target of targets) await dialTarget(node, target, timeoutMs)

  // One publish on the first topic, once enough peers are subscribed to it and reachable.
  const publishOne = async (text) => {
    await until(() => reachableSubscribers(pubsub, topic) >= wantSubscribers,
      `${wantSubscribers} peer(s) subscribed to ${topic}`)
    const data = UTF8_ENCODER.encode(text)
    const result = await step('publish', () => pubsub.publish(topic, data))
    emit({
      event: 'published',
      topic,
      seqno: seqnos.get(data) ?? null,
      recipients: result.recipients.length
    })
  }

  // Publishes run one at a time, in order: the --publish texts, then stdin lines.
  const publishing = (async () => {
    for (let round = 0, n = 0; round < publishCount; round++) {
      for (const text of texts) {
        if (n++ > 0 && intervalMs > 0) await sleep(intervalMs)
        await publishOne(text)
      }
    }
  })()
  let queue = publishing.catch(() => {}) // a --publish failure ends the process below
  if (flags['ignore-stdin'] !== true) {
    const lines = createInterface({ input: process.stdin })
    // A stdin line that cannot be published is reported, and the node keeps running.
    lines.on('line', (line) => {
      queue = queue.then(() => publishOne(line)).catch((err) => {
        emit({ event: 'publish_error', topic, error: classify(err, 'publish').message })
      })
    })
    lines.on('close', () => { queue.then(() => stop('stdin closed')) })
  }

  await publishing
  if (exitAfter !== null) {
    await until(() => received >= exitAfter, `${exitAfter} message(s)`)
    await sleep(EXIT_LINGER_MS)
    stop(`received ${received} message(s)`)
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

// --- dht ------------------------------------------------------------------------------------

function parseCid (raw) {
  try {
    return CID.parse(raw)
  } catch (err) {
    throw new CliError(EXIT_USAGE, `bad CID ${JSON.stringify(raw)}: ${err.message}`)
  }
}

function parsePeer (raw) {
  try {
    return peerIdFromString(raw)
  } catch (err) {
    throw new CliError(EXIT_USAGE, `bad peer id ${JSON.stringify(raw)}: ${err.message}`)
  }
}

function peerInfoJson (info) {
  return { peer: info.id.toString(), addrs: info.multiaddrs.map((ma) => ma.toString()) }
}

// Runs one DHT query (an async generator of query events) to its end, printing every answer a
// peer gave (`response`: who answered, the message type, the closer peers and providers it
// named), so a test can tell which node answered what. Returns the events.
async function runQuery (op, query) {
  const events = []
  for await (const evt of query) {
    events.push(evt)
    if (evt.name === 'PEER_RESPONSE') {
      emit({
        event: 'response',
        op,
        from: evt.from.toString(),
        type: evt.messageType,
        closer: evt.closer.map(peerInfoJson),
        providers: evt.providers.map(peerInfoJson)
      })
    } else if (evt.name === 'QUERY_ERROR') {
      emit({ event: 'query_error', op, from: evt.from.toString(), error: evt.error?.message ?? null })
    }
  }
  return events
}

// Repeats `attempt` (one query, returning a result or null) until it returns a result or the
// deadline passes; a query that ends without the answer is retried at once, and one that throws
// after 200 ms (js's query waits for its routing table, so an empty table does not spin).
async function untilFound (deadline, what, attempt) {
  let last = null
  while (Date.now() < deadline) {
    const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()))
    try {
      const result = await attempt(signal)
      if (result != null) return result
    } catch (err) {
      last = err
      if (Date.now() < deadline) await sleep(Math.min(200, Math.max(0, deadline - Date.now())))
    }
  }
  emit({ event: 'not_found', what, error: last?.message ?? null })
  throw new CliError(EXIT_TIMEOUT, `${what}: not found by the deadline` +
    (last != null ? ` (last error: ${last.message})` : ''))
}

// Waits until the routing table holds `peer` (it is added once identify has said the peer
// serves the DHT and a ping to it succeeded).
function waitInTable (dht, peer, deadline) {
  const table = dht.routingTable
  return new Promise((resolve, reject) => {
    let done = false
    const finish = (err) => {
      if (done) return
      done = true
      clearInterval(poll)
      clearTimeout(timer)
      table.removeEventListener('peer:add', check)
      if (err != null) reject(err)
      else resolve()
    }
    const check = () => {
      table.find(peer).then((found) => { if (found != null) finish() }, () => {})
    }
    const poll = setInterval(check, 100)
    const timer = setTimeout(() => finish(new CliError(EXIT_TIMEOUT,
      `bootstrap: ${peer} did not enter the routing table`)), Math.max(1, deadline - Date.now()))
    table.addEventListener('peer:add', check)
    check()
  })
}

// A DHT node: listens, bootstraps (dials each --bootstrap address and waits until that peer is
// in its routing table), provides, then runs each lookup asked for, printing one result line
// per lookup; then serves until stdin closes (or exits with --exit).
async function cmdDht (flags) {
  checkFlags(flags, ['port', 'host', 'key-hex', 'client', 'bootstrap', 'provide',
    'find-providers', 'find-peer', 'closest-peers', 'timeout-ms', 'exit', 'ignore-stdin'])
  const bootstrap = (flags.bootstrap ?? []).map(parseTarget)
  const provide = (flags.provide ?? []).map(parseCid)
  const findProviders = (flags['find-providers'] ?? []).map(parseCid)
  const findPeer = (flags['find-peer'] ?? []).map(parsePeer)
  const closest = (flags['closest-peers'] ?? []).map(parsePeer)
  const timeoutMs = intFlag(flags, 'timeout-ms', 30_000, 1)
  const deadline = Date.now() + timeoutMs
  const node = await createNode(await loadKey(flags), [listenAddr(flags)],
    { dht: dhtOptions({ client: flags.client === true }), identifyOnOpen: true })
  const dht = node.services.dht
  node.addEventListener('connection:open', (evt) => {
    const conn = evt.detail
    emit({
      event: 'peer_connected',
      peer: conn.remotePeer.toString(),
      remote_addr: conn.remoteAddr.toString(),
      direction: conn.direction
    })
  })
  announce(node)
  const stop = stopper(node)
  if (flags['ignore-stdin'] !== true && flags.exit !== true) {
    process.stdin.on('end', () => stop('stdin closed'))
    process.stdin.on('error', () => stop('stdin error'))
    process.stdin.resume()
  }

  for (const target of bootstrap) {
    await dialTarget(node, target, Math.max(1, deadline - Date.now()))
    await waitInTable(dht, target.peer, deadline)
    emit({ event: 'bootstrapped', peer: target.peer.toString(), routing_table: dht.routingTable.size })
  }
  for (const cid of provide) {
    await step('provide', () => runQuery('provide', dht.provide(cid,
      { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) })))
    emit({ event: 'provided', cid: cid.toString() })
  }
  for (const cid of findProviders) {
    const providers = await untilFound(deadline, `providers of ${cid}`, async (signal) => {
      const found = new Map()
      for (const evt of await runQuery('find_providers', dht.findProviders(cid, { signal }))) {
        if (evt.name !== 'PROVIDER') continue
        for (const info of evt.providers) found.set(info.id.toString(), peerInfoJson(info))
      }
      return found.size > 0 ? [...found.values()] : null
    })
    emit({ event: 'providers', cid: cid.toString(), providers })
  }
  for (const peer of findPeer) {
    // useCache false: always a lookup on the network, never the answer from our own peer store.
    const found = await untilFound(deadline, `peer ${peer}`, async (signal) => {
      const events = await runQuery('find_peer', dht.findPeer(peer, { signal, useCache: false }))
      return events.find((evt) => evt.name === 'FINAL_PEER') ?? null
    })
    emit({ event: 'found_peer', ...peerInfoJson(found.peer), from: found.from.toString() })
  }
  for (const peer of closest) {
    const key = peer.toMultihash().bytes
    const peers = await untilFound(deadline, `peers closest to ${peer}`, async (signal) => {
      const events = await runQuery('closest_peers', dht.getClosestPeers(key, { signal }))
      const final = events.filter((evt) => evt.name === 'FINAL_PEER').map((evt) => peerInfoJson(evt.peer))
      return final.length > 0 ? final : null
    })
    emit({ event: 'closest_peers', key: peer.toString(), peers })
  }
  emit({ event: 'done', routing_table: dht.routingTable.size })
  if (flags.exit === true) stop('done')
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
  const wantArgs = { listen: 0, pubsub: 0, dht: 0, ping: 1, perf: 1, keygen: 0 }
  if (!(command in wantArgs)) throw new CliError(EXIT_USAGE, `unknown command ${command ?? '(none)'}`)
  if (rest.length !== wantArgs[command]) {
    throw new CliError(EXIT_USAGE, `${command} takes ${wantArgs[command]} positional argument(s)`)
  }
  switch (command) {
    case 'listen': await cmdListen(flags); return null // runs until told to stop
    case 'pubsub': await cmdPubsub(flags); return null // runs until told to stop or done
    case 'dht': await cmdDht(flags); return null // serves until told to stop, or --exit
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
