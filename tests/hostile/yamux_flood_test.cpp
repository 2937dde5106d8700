// Findings 1, 2 and 10 of issue 10, with the hostile client (tests/support/hostile_peer.hpp):
// a Yamux ping flood that never reads the replies, stream opens past the stream limit (each
// answered by a RST that is never read), and perf streams that send only their 8-byte header.
// Each time the daemon's peak RSS must stay under --max-memory plus a fixed allowance over the
// RSS it had at start, and a legitimate peer must ping it during the attack.
#include "tests/hostile/attack.hpp"
#include "tests/hostile/daemon.hpp"
#include "tests/support/hostile_peer.hpp"

#include "bb/wire/error.hpp"

#include <gtest/gtest.h>

namespace bb::hostile {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kMaxMemoryMiB = 64;
// What a daemon holds beyond its accounted buffers (code, allocator slack, stacks), above the
// RSS it had at start. Under ASan freed memory sits in quarantine (256 MiB by default).
std::uint64_t allowance() {
  return (sanitized_build() ? 512u : 48u) << 20;
}

std::vector<std::string> memory_args() {
  if (!run_supports("--max-memory")) return {};
  return {"--max-memory", std::to_string(kMaxMemoryMiB << 20)};
}

// The flood workers' attack: one connection from 127.0.0.2 with a fresh identity.
asio::awaitable<test::HostilePeer> attacker(AttackControl& control, std::string daemon_addr) {
  test::HostileOptions options;
  options.source_ip = "127.0.0.2";
  options.timeout = 10s;
  const auto addr = wire::Multiaddr::parse(daemon_addr).value();
  auto peer = co_await test::HostilePeer::connect(addr, options);
  co_await peer.secure(wire::Ed25519KeyPair::generate(), addr.peer_id());
  control.add(control.counters().handshakes);
  co_return peer;
}

// How a flood went, read by the test after stop() (the join orders it).
struct FloodReport {
  test::FloodOutcome flood;
  std::string failure;
};

// Writes `batch` until `total` bytes went out or the daemon stops reading (3 s without
// progress), then holds the connection, still not reading, until stop().
asio::awaitable<void> flood_worker(AttackControl& control, std::string daemon_addr,
                                   wire::Bytes batch, std::uint64_t total, FloodReport& report) {
  try {
    auto peer = co_await attacker(control, daemon_addr);
    auto guard = control.on_stop([&peer] { peer.reset(); });
    report.flood = co_await peer.flood(batch, total / batch.size(), 3s);
    control.add(control.counters().milestones);
    while (!control.stopping()) co_await control.pause(1h);
  } catch (const std::exception& e) {
    report.failure = wire::error_text(e);
    control.add(control.counters().milestones);
  }
}

// Window-update SYN frames for new stream ids (each id once: a repeated one would be a
// protocol error that ends the connection) until `total` bytes, 4,096 frames per write; past
// the stream limit each is answered by a RST, never read. Then held like flood_worker.
asio::awaitable<void> syn_flood_worker(AttackControl& control, std::string daemon_addr,
                                       std::uint64_t total, FloodReport& report) {
  try {
    auto peer = co_await attacker(control, daemon_addr);
    auto guard = control.on_stop([&peer] { peer.reset(); });
    wire::Bytes batch;
    while (report.flood.bytes < total && !control.stopping()) {
      batch.clear();
      for (int i = 0; i < 4096; ++i)
        test::append_yamux(batch, wire::yamux::FrameType::window_update, 0x1 /* SYN */,
                           peer.next_stream_id(), 0);
      const auto step = co_await peer.flood(batch, 1, 3s);
      report.flood.bytes += step.bytes;
      report.flood.batches += step.batches;
      report.flood.stalled = step.stalled;
      report.flood.error = step.error;
      if (step.stalled || step.error) break;
    }
    control.add(control.counters().milestones);
    while (!control.stopping()) co_await control.pause(1h);
  } catch (const std::exception& e) {
    report.failure = wire::error_text(e);
    control.add(control.counters().milestones);
  }
}

// `streams` perf streams on one connection, each sending its 8-byte header (download 1 MiB)
// and never uploading nor closing; then the connection is held, never read, until stop().
asio::awaitable<void> perf_worker(AttackControl& control, std::string daemon_addr, int streams,
                                  FloodReport& report) {
  try {
    auto peer = co_await attacker(control, daemon_addr);
    auto guard = control.on_stop([&peer] { peer.reset(); });
    const std::uint8_t header[8] = {0, 0, 0, 0, 0, 0x10, 0, 0};  // big-endian 1 MiB
    wire::Bytes plaintext;
    for (int i = 0; i < streams; ++i) {
      (void)peer.append_open_stream(plaintext, "/perf/1.0.0", wire::ByteView(header, 8));
      if (plaintext.size() > 32 * 1024) {
        co_await peer.send_sealed(plaintext);
        plaintext.clear();
      }
    }
    if (!plaintext.empty()) co_await peer.send_sealed(plaintext);
    report.flood.bytes = peer.bytes_sent();
    control.add(control.counters().milestones);
    while (!control.stopping()) co_await control.pause(1h);
  } catch (const std::exception& e) {
    report.failure = wire::error_text(e);
    control.add(control.counters().milestones);
  }
}

// Runs the attack that `start` spawns (`workers` workers, each reporting one milestone when
// its flood is done), pings from 127.0.0.1 during it, and checks the daemon's memory.
template <class Start>
void memory_attack(const std::string& attack_name, const std::string& bound, int workers,
                   Start start) {
  const auto args = memory_args();
  auto daemon_args = args;
  if (run_supports("--serve-perf")) daemon_args.push_back("--serve-perf");
  Daemon daemon({.args = daemon_args});
  const auto baseline = daemon.stats().value_or(ProcessStats{}).rss;
  std::vector<FloodReport> reports(static_cast<std::size_t>(workers));
  Attack attack;
  start(attack, daemon, reports);
  ASSERT_TRUE(attack.wait_until(
      [&](const auto& c) { return c.handshakes + c.milestones >= std::uint64_t(workers); },
      kPeerWait))
      << attack.describe();
  // During the flood, and again once it is all sent (or stalled) and held.
  const auto during = pings_in_a_row(daemon, 1);
  const bool flooded =
      attack.wait_until([&](const auto& c) { return c.milestones >= std::uint64_t(workers); }, 60s);
  const auto after = pings_in_a_row(daemon, 1);
  const auto stats = daemon.stats().value_or(ProcessStats{});
  attack.stop();

  const std::uint64_t limit = baseline + (kMaxMemoryMiB << 20) + allowance();
  std::uint64_t sent = 0;
  bool stalled = false;
  for (const auto& r : reports) {
    sent += r.flood.bytes;
    stalled = stalled || r.flood.stalled;
  }
  const std::string note = "RSS at start " + mib(baseline) + ", attacker sent " + mib(sent) +
                           (stalled ? ", then the daemon stopped reading" : "");
  report_row(attack_name, bound, stats.peak_rss, during.all() && after.all(), note);
  if (args.empty()) ADD_FAILURE() << "bb-node run has no --max-memory flag";
  for (const auto& r : reports) EXPECT_EQ(r.failure, "") << attack.describe();
  EXPECT_TRUE(flooded) << "the attack did not finish within its bound\n" << attack.describe();
  EXPECT_LE(stats.peak_rss, limit)
      << "peak RSS " << mib(stats.peak_rss) << " over " << mib(limit) << " (" << note << ")\n"
      << daemon.describe();
  EXPECT_TRUE(during.all()) << "during the flood:\n" << during.failures << daemon.describe();
  EXPECT_TRUE(after.all()) << "after the flood:\n" << after.failures << daemon.describe();
}

TEST(YamuxFlood, Finding1_PingsWhoseRepliesAreNeverReadStayWithinTheMemoryLimit) {
  memory_attack("Yamux ping flood, replies never read (128 MiB of pings)",
                "output backlog reserved against the connection's memory; reader pauses over it", 1,
                [](Attack& attack, const Daemon& daemon, std::vector<FloodReport>& reports) {
                  attack.spawn(flood_worker(attack.control(), daemon.addr(),
                                            test::yamux_pings(4096), 128u << 20, reports[0]));
                });
}

TEST(YamuxFlood, Finding1_StreamOpensPastTheLimitWhoseResetsAreNeverReadStayWithinTheLimit) {
  memory_attack(
      "Yamux SYN flood past the stream limit, RSTs never read (128 MiB of SYNs)",
      "control replies count against the output backlog; reader pauses over it", 1,
      [](Attack& attack, const Daemon& daemon, std::vector<FloodReport>& reports) {
        attack.spawn(syn_flood_worker(attack.control(), daemon.addr(), 128u << 20, reports[0]));
      });
}

TEST(YamuxFlood, Finding2_PerfStreamsThatOnlySendTheirHeaderStayWithinTheLimit) {
  memory_attack("perf: 4 connections x 250 streams sending only the 8-byte header",
                "perf served only with --serve-perf; small buffer, reserved per stream", 4,
                [](Attack& attack, const Daemon& daemon, std::vector<FloodReport>& reports) {
                  for (auto& report : reports)
                    attack.spawn(perf_worker(attack.control(), daemon.addr(), 250, report));
                });
}

}  // namespace
}  // namespace bb::hostile
