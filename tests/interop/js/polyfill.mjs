// js-libp2p 3.x targets Node 22 and calls Promise.withResolvers (ES2024), which Node 20 lacks.
// Load this before any libp2p module: `node --import ./polyfill.mjs peer.mjs ...`
// (peer.mjs also imports it first, so plain `node peer.mjs` works too).
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
