// Finding 5 of issue 10: out of file descriptors, accept() fails with EMFILE; the daemon must
// back off (not spin at 100 % CPU), say so in a bounded number of lines on stderr (not inside
// the --json stream), and let a legitimate peer in once the attack ends.
#include "tests/hostile/attack.hpp"
#include "tests/hostile/daemon.hpp"

#include <gtest/gtest.h>

namespace bb::hostile {
namespace {

using namespace std::chrono_literals;

TEST(Emfile, Finding5_OutOfDescriptorsTheDaemonBacksOffAndRecovers) {
  // 64 descriptors: fewer than the 64 pending handshakes the daemon allowed at fd00f14, so the
  // attack reaches EMFILE there; a fixed daemon clamps its limits to what the fds allow.
  Daemon daemon({.max_open_files = 64});
  const auto stdout_before = daemon.stdout_lines().size();
  const auto stderr_before = daemon.stderr_lines().size();
  // 128 silent connections from 16 addresses, so that per-IP limits alone do not stop them.
  Attack attack;
  for (std::uint32_t ip = 0; ip < 16; ++ip)
    attack.idle_sockets(daemon_endpoint(daemon.port()), source_address(4, ip), 8);
  ASSERT_TRUE(attack.wait_until([](const auto& c) { return c.connects >= 128; }, kPeerWait))
      << attack.describe();

  // The attack lasts 2 s (whatever the daemon does, it does not end it): CPU over that time.
  const auto before = daemon.stats().value_or(ProcessStats{});
  const auto start = std::chrono::steady_clock::now();
  (void)attack.wait_until([](const auto&) { return false; }, 2s);
  const auto after = daemon.stats().value_or(ProcessStats{});
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = after.cpu_seconds - before.cpu_seconds;
  attack.stop();

  // Once the attackers are gone, their descriptors come back and a peer gets in.
  const auto pings = pings_in_a_row(daemon, 1);
  const auto stats = daemon.stats().value_or(ProcessStats{});
  const auto out = daemon.stdout_lines();
  const auto err = daemon.stderr_lines();
  char note[96];
  std::snprintf(note, sizeof note, "%.2f CPU s in %.1f s, %zu stderr lines", cpu, wall,
                err.size() - stderr_before);
  report_row("EMFILE: 128 silent connections, daemon limited to 64 fds",
             "accept errors back off 10 ms to 1 s; limits clamped to the fd limit", stats.peak_rss,
             pings.all(), note);

  EXPECT_LT(cpu, 0.3 * wall) << "the daemon spun: " << note << "\n" << daemon.describe();
  EXPECT_LE(err.size() - stderr_before, 30u) << daemon.describe();
  const auto bad =
      non_json_lines({out.begin() + static_cast<std::ptrdiff_t>(stdout_before), out.end()});
  EXPECT_TRUE(bad.empty()) << bad.size() << " lines of the --json stream are not JSON, e.g. '"
                           << (bad.empty() ? "" : bad.front()) << "'";
  EXPECT_TRUE(pings.all()) << pings.failures << attack.describe() << "\n" << daemon.describe();
}

}  // namespace
}  // namespace bb::hostile
