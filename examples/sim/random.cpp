#include "examples/sim/random.hpp"

#include <sodium.h>

#include <array>
#include <cstdint>

namespace bb::sim {

namespace {

// Every random draw of bb goes through libsodium: this generator makes them a function of the
// seed (ChaCha20 keyed by a hash of it, one nonce per draw).
struct SeededRandom {
  std::array<unsigned char, crypto_stream_chacha20_ietf_KEYBYTES> key{};
  std::uint64_t counter = 0;
};
SeededRandom g_random;

const char* seeded_name() {
  return "bb-sim-seeded";
}
void seeded_buf(void* buf, size_t size) {
  std::array<unsigned char, crypto_stream_chacha20_ietf_NONCEBYTES> nonce{};
  const std::uint64_t n = g_random.counter++;
  for (int i = 0; i < 8; ++i)
    nonce[static_cast<std::size_t>(i)] = static_cast<unsigned char>(n >> (8 * i));
  crypto_stream_chacha20_ietf(static_cast<unsigned char*>(buf), size, nonce.data(),
                              g_random.key.data());
}
std::uint32_t seeded_random() {
  std::uint32_t x = 0;
  seeded_buf(&x, sizeof x);
  return x;
}
randombytes_implementation g_seeded{seeded_name, seeded_random, nullptr,
                                    nullptr,     seeded_buf,    nullptr};

}  // namespace

void seed_randomness(std::uint64_t seed) {
  std::array<unsigned char, 8> s{};
  for (int i = 0; i < 8; ++i)
    s[static_cast<std::size_t>(i)] = static_cast<unsigned char>(seed >> (8 * i));
  crypto_generichash(g_random.key.data(), g_random.key.size(), s.data(), s.size(),
                     reinterpret_cast<const unsigned char*>("bb-sim"), 6);
  g_random.counter = 0;
  randombytes_set_implementation(&g_seeded);
}

}  // namespace bb::sim
