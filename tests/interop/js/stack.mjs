// The js-libp2p node that peer.mjs and pubsub_bench.mjs run: TCP + /noise + /yamux/1.0.0,
// ping and identify, and gossipsub when asked. Entry points import './polyfill.mjs' before this.
//
// No peer discovery, no relay, no connection monitor: the only dials the node makes are the ones
// its caller asks for, and (with `dht`) the ones its Kademlia queries make.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictSign } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'

// Gossipsub as the interop tests want it: every message signed and checked (StrictSign), the
// default message id (author + seqno, which StrictSign selects), no delivery of our own
// messages to ourselves, and publishing to a topic nobody is subscribed to is an error unless
// `allowPublishToZeroTopicPeers`. Everything else is js-libp2p's default (D=6, 1 s heartbeat,
// flood publish, /meshsub/1.2.0, 1.1.0, 1.0.0 and /floodsub/1.0.0).
export function gossipsubOptions ({ allowPublishToZeroTopicPeers = false } = {}) {
  return {
    globalSignaturePolicy: StrictSign,
    emitSelf: false,
    allowPublishToZeroTopicPeers
  }
}

// Kademlia as the interop tests want it: /ipfs/kad/1.0.0 (the public DHT's protocol id), in
// server mode from the start unless `client` (js otherwise starts as a client and turns server
// only once it has a public address), and every address kept as it is: the default
// peerInfoMapper (removePrivateAddressesMapper) drops loopback addresses from what the DHT stores
// and answers, which would leave nodes on 127.0.0.1 unreachable through it.
export function dhtOptions ({ client = false } = {}) {
  return {
    protocol: '/ipfs/kad/1.0.0',
    clientMode: client,
    peerInfoMapper: passthroughMapper
  }
}

// `pubsub`: gossipsub options (see gossipsubOptions) to serve gossipsub as services.pubsub, or
// null for none. `identifyOnOpen`: let identify run by itself on every new connection; peer.mjs
// leaves it off and runs identify explicitly, so it can report failures. Gossipsub starts
// talking to a peer once identify has said the peer speaks it (or the peer opened a gossipsub
// stream first), so a node with pubsub needs one of the two; so does the DHT, which adds a peer
// to its routing table once identify says the peer serves it. `dht`: kad-dht options (see
// dhtOptions) to serve as services.dht, or null for none.
export async function createNode (privateKey, listenAddrs,
  { pubsub = null, dht = null, identifyOnOpen = false } = {}) {
  const services = {
    ping: ping(),
    identify: identify({ runOnConnectionOpen: identifyOnOpen })
  }
  if (pubsub !== null) services.pubsub = gossipsub(pubsub)
  if (dht !== null) services.dht = kadDHT(dht)
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
    services
  })
}
