// bb-sim's randomness: every random draw of bb (keys, Noise's ephemeral keys, message ids, the
// dedup table's hash keys) goes through libsodium, and seed_randomness() replaces libsodium's
// generator with ChaCha20 keyed by a hash of the seed, so a run is a function of its seed.
// Process-wide: call it before any key is made, in a program (or test) that wants that.
#pragma once

#include <cstdint>

namespace bb::sim {

void seed_randomness(std::uint64_t seed);

}  // namespace bb::sim
