#!/usr/bin/env node
// Gossipsub latency and throughput of js-libp2p alone: the baseline bb's pubsub is compared with.
//   node pubsub_bench.mjs [--nodes K] [--messages M] [--seed S] [--chords C] [--interval-ms MS]
//                         [--mesh-timeout-ms MS] [--timeout-ms MS]
// In this one process: K nodes (default 10) on 127.0.0.1, the stack of peer.mjs (stack.mjs),
// connected in a ring plus C chords (default K/3) picked by a seeded PRNG (default seed 1), all
// subscribed to one topic. Once every node's mesh holds all its neighbours (bounded by
// --mesh-timeout-ms, default 10000), M messages (default 1000) are published round-robin by
// node i % K, back to back (or --interval-ms apart). Each payload is 64 bytes: the publish time
// (process.hrtime.bigint(), u64 big-endian), the message index (u32 big-endian), zeros. Every
// other node records publish-to-delivery latency. The run ends when every message reached every
// other node or at --timeout-ms (default 60000) after the first publish. One JSON line on stdout:
//   {"impl":"js-libp2p","nodes":K,"messages":M,"deliveries":D,"expected":E,"p50_us":..,
//    "p99_us":..,"msgs_per_s":..,...}
// E = M*(K-1); msgs_per_s = D / (last delivery - first publish). With no interval the publishes
// queue behind each other on one event loop, so latency includes that queueing.
// Exits 0 when D = E with no duplicate delivery, 1 otherwise (the line is printed either way).

// Must stay the first import: js-libp2p 3.x needs Promise.withResolvers, which Node 20 lacks.
import './polyfill.mjs'

import { generateKeyPair } from '@libp2p/crypto/keys'
import { setTimeout as sleep } from 'node:timers/promises'
import { createNode, gossipsubOptions } from './stack.mjs'

const TOPIC = 'bb-pubsub-bench'
const PAYLOAD_BYTES = 64
const GOSSIPSUB_D = 6 // js-libp2p's default mesh degree: a mesh holds up to D neighbours at once

function argInt (name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  if (i === -1) return fallback
  const value = Number(process.argv[i + 1])
  if (!Number.isSafeInteger(value) || value < 0) {
    process.stderr.write(`pubsub_bench: --${name} must be a non-negative integer\n`)
    process.exit(2)
  }
  return value
}

const K = argInt('nodes', 10)
const M = argInt('messages', 1000)
const SEED = argInt('seed', 1)
const CHORDS = argInt('chords', Math.floor(K / 3))
const INTERVAL_MS = argInt('interval-ms', 0)
const MESH_TIMEOUT_MS = argInt('mesh-timeout-ms', 10_000)
const TIMEOUT_MS = argInt('timeout-ms', 60_000)
if (K < 2 || M < 1) {
  process.stderr.write('pubsub_bench: needs --nodes >= 2 and --messages >= 1\n')
  process.exit(2)
}

// mulberry32: a small seeded PRNG, so the same seed gives the same chords.
function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// The ring i -- i+1, then up to `chords` extra edges between nodes not yet connected.
function topology (k, chords, seed) {
  const edges = new Set()
  const key = (a, b) => (a < b ? `${a}-${b}` : `${b}-${a}`)
  for (let i = 0; i < k; i++) if (k > 2 || i === 0) edges.add(key(i, (i + 1) % k))
  const random = prng(seed)
  for (let tries = 0, added = 0; added < chords && tries < 1000 * (chords + 1); tries++) {
    const a = Math.floor(random() * k)
    const b = Math.floor(random() * k)
    if (a === b || edges.has(key(a, b))) continue
    edges.add(key(a, b))
    added++
  }
  return [...edges].map((e) => e.split('-').map(Number))
}

function percentile (sorted, p) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}

function round1 (x) {
  return Math.round(x * 10) / 10
}

async function main () {
  const edges = topology(K, CHORDS, SEED)
  const degree = new Array(K).fill(0)
  for (const [a, b] of edges) { degree[a]++; degree[b]++ }

  // identifyOnOpen: gossipsub starts on a connection once identify has run on it.
  const nodes = await Promise.all(Array.from({ length: K }, async () =>
    createNode(await generateKeyPair('Ed25519'), ['/ip4/127.0.0.1/tcp/0'],
      { pubsub: gossipsubOptions(), identifyOnOpen: true })))

  // Deliveries: latency in microseconds, in arrival order; seen[node][message] catches duplicates.
  const expected = M * (K - 1)
  const latencies = new Float64Array(expected)
  const seen = nodes.map(() => new Uint8Array(M))
  let deliveries = 0
  let duplicates = 0
  let lastDelivery = 0n
  let allDelivered = null
  const delivered = new Promise((resolve) => { allDelivered = resolve })
  nodes.forEach((node, n) => {
    node.services.pubsub.addEventListener('message', (evt) => {
      const now = process.hrtime.bigint()
      const data = evt.detail.data
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
      const index = view.getUint32(8, false)
      if (seen[n][index] !== 0) {
        duplicates++
        return
      }
      seen[n][index] = 1
      if (deliveries < expected) {
        latencies[deliveries] = Number(now - view.getBigUint64(0, false)) / 1000
      }
      deliveries++
      lastDelivery = now
      if (deliveries === expected) allDelivered()
    })
    node.services.pubsub.subscribe(TOPIC)
  })

  try {
    await Promise.all(edges.map(([a, b]) => nodes[a].dial(nodes[b].getMultiaddrs()[0],
      { signal: AbortSignal.timeout(10_000) })))

    // The mesh is ready when each node has every neighbour subscribed and in its mesh (at most
    // D), and a stream of its own open to each: gossipsub sends only on that stream, which it
    // opens apart from the neighbour's (streamsOutbound is internal to @libp2p/gossipsub 17.1.1;
    // see reachableSubscribers in peer.mjs).
    const meshStart = performance.now()
    const ready = () => nodes.every((node, n) =>
      node.services.pubsub.getSubscribers(TOPIC).length >= degree[n] &&
      node.services.pubsub.getMeshPeers(TOPIC).length >= Math.min(degree[n], GOSSIPSUB_D) &&
      node.services.pubsub.streamsOutbound.size >= degree[n])
    while (!ready() && performance.now() - meshStart < MESH_TIMEOUT_MS) await sleep(20)
    const meshReady = ready()
    const meshMs = performance.now() - meshStart

    const firstPublish = process.hrtime.bigint()
    const deadline = performance.now() + TIMEOUT_MS
    let publishErrors = 0
    for (let i = 0; i < M && performance.now() < deadline; i++) {
      if (i > 0 && INTERVAL_MS > 0) await sleep(INTERVAL_MS)
      // A fresh array per message: gossipsub keeps the data it was given in its message cache.
      const data = new Uint8Array(PAYLOAD_BYTES)
      const dv = new DataView(data.buffer)
      dv.setUint32(8, i, false)
      dv.setBigUint64(0, process.hrtime.bigint(), false)
      try {
        await nodes[i % K].services.pubsub.publish(TOPIC, data)
      } catch (err) {
        publishErrors++
        process.stderr.write(`pubsub_bench: publish ${i}: ${err.message}\n`)
      }
      // Let deliveries run between publishes rather than after all of them.
      if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve))
    }
    const publishEnd = process.hrtime.bigint()

    let timer
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - performance.now()))
    })
    await Promise.race([delivered, timedOut])
    clearTimeout(timer)
    // A short look for duplicates arriving after the last expected delivery.
    await sleep(200)

    const sorted = Float64Array.from(latencies.subarray(0, Math.min(deliveries, expected))).sort()
    const seconds = deliveries > 0 ? Number(lastDelivery - firstPublish) / 1e9 : 0
    const result = {
      impl: 'js-libp2p',
      nodes: K,
      messages: M,
      deliveries,
      expected,
      p50_us: percentile(sorted, 0.5) === null ? null : round1(percentile(sorted, 0.5)),
      p99_us: percentile(sorted, 0.99) === null ? null : round1(percentile(sorted, 0.99)),
      msgs_per_s: seconds > 0 ? round1(deliveries / seconds) : null,
      max_us: sorted.length > 0 ? round1(sorted[sorted.length - 1]) : null,
      duplicates,
      publish_errors: publishErrors,
      seconds: Math.round(seconds * 1e3) / 1e3,
      publish_seconds: Math.round(Number(publishEnd - firstPublish) / 1e6) / 1e3,
      edges: edges.length,
      seed: SEED,
      mesh_ready: meshReady,
      mesh_ms: Math.round(meshMs)
    }
    process.stdout.write(JSON.stringify(result) + '\n')
    return deliveries === expected && duplicates === 0 ? 0 : 1
  } finally {
    await Promise.race([Promise.all(nodes.map((node) => node.stop())), sleep(5000)])
  }
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`pubsub_bench: ${err?.stack ?? err}\n`)
  process.exit(1)
})
