// bb-sim's randomness: every random draw of bb (keys, Noise's ephemeral keys, message ids, the
// dedup table's hash keys) goes through libsodium, and seed_randomness() replaces libsodium's
// generator with ChaCha20 keyed by a hash of the seed, so a run is a function of its seed.
// Process-wide: call it before any key is made, in a program (or test) that wants that.
#pragma once

#include <cstdint>

namespace bb::sim {

void seed_randomness(std::uint64_t seed);

// splitmix64's finaliser: a well-spread 64-bit value from any input, for deriving the seeds of
// the simulation's parts (a link's losses, a pair's latency, a host's gossipsub RNG).
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace bb::sim
