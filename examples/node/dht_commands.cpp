// bb-node dht find-peer / find-providers / get / put: one Kademlia query from a node of its own
// that listens (127.0.0.1, port 0, unless --listen), joins the DHT through --bootstrap (a client
// unless --dht says otherwise), does its one thing, and stops.
#include "examples/node/commands.hpp"

#include "bb/dht/cid.hpp"
#include "bb/dht/error.hpp"
#include "bb/dht/kademlia.hpp"
#include "bb/dht/records.hpp"
#include "bb/node/node.hpp"
#include "bb/proto/onnx.pb.h"  // NodeConfig holds NodeProtos; node.hpp only declares the class
#include "bb/wire/error.hpp"
#include "bb/wire/keys.hpp"
#include "bb/wire/utf8.hpp"
#include "examples/node/dht_options.hpp"
#include "examples/node/output.hpp"
#include "examples/node/output_format.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>

namespace bb::cli {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

enum class Query : std::uint8_t { find_peer, find_providers, get, put };

std::string_view name_of(Query q) {
  switch (q) {
    case Query::find_peer: return "find-peer";
    case Query::find_providers: return "find-providers";
    case Query::get: return "get";
    case Query::put: return "put";
  }
  return "?";
}

struct DhtCommandOptions {
  Query query = Query::find_peer;
  std::string target;  // the PEERID, CID or KEY
  std::string value;   // put's VALUE
  std::vector<std::string> bootstrap;
  std::string listen = "/ip4/127.0.0.1/tcp/0";
  std::string mode = "client";
  std::string key_file;
  std::uint64_t timeout_ms = 30'000;
  bool json = false;
};

// What the command works on, parsed before any node starts.
struct Parsed {
  std::vector<wire::Multiaddr> bootstrap;
  std::optional<wire::PeerId> peer;
  std::optional<dht::Cid> cid;
  std::optional<wire::Ed25519KeyPair> identity;
};

// After the time is up, bootstrap and lookups get this long to end by themselves (they are
// bounded by KademliaOptions::lookup_timeout too) before the command gives up.
constexpr std::chrono::seconds kGrace{5};
// Between two attempts of a lookup that found nothing (a small DHT that is still forming).
constexpr std::chrono::milliseconds kRetryPause{250};

nlohmann::json addrs_json(const std::vector<wire::Multiaddr>& addrs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : addrs) out.push_back(a.to_string());
  return out;
}

// A record's data as it prints: as is when it is UTF-8 without control characters (tab
// allowed), else "0x" + hex, so that what a peer stored cannot break or forge an output line.
std::string text_of(wire::ByteView data) {
  const std::string_view s(reinterpret_cast<const char*>(data.data()), data.size());
  const bool plain = wire::is_valid_utf8(s) && std::none_of(s.begin(), s.end(), [](char c) {
                       const auto u = static_cast<unsigned char>(c);
                       return (u < 0x20 && c != '\t') || u == 0x7f;
                     });
  return plain ? std::string(s) : "0x" + wire::to_hex(data);
}

// Sleeps kRetryPause unless the deadline comes first; false when there is no time for another
// attempt.
asio::awaitable<bool> pause_before_retry(Clock::time_point deadline) {
  if (Clock::now() + kRetryPause >= deadline) co_return false;
  asio::steady_timer timer(co_await asio::this_coro::executor, kRetryPause);
  (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return true;
}

asio::awaitable<int> find_peer(dht::Kademlia& dht, const DhtCommandOptions& opts,
                               const wire::PeerId& peer, Clock::time_point deadline,
                               const Output& out) {
  boost::system::error_code last;
  for (;;) {
    auto found = co_await dht.find_peer(peer);
    if (found && !found->addrs.empty()) {
      std::string text;
      for (const auto& a : found->addrs) text += (text.empty() ? "" : "\n") + a.to_string();
      out.print(
          {{"event", "peer"}, {"peer", peer.to_base58()}, {"addrs", addrs_json(found->addrs)}},
          text);
      co_return kExitOk;
    }
    last = found ? make_error_code(dht::errc::not_found) : found.error();
    if (last == dht::errc::stopped) break;
    const bool again = co_await pause_before_retry(deadline);
    if (!again) break;
  }
  co_return out.fail("not_found",
                     peer.to_base58() + " not found within " + std::to_string(opts.timeout_ms) +
                         " ms: " + last.message(),
                     kExitFailure);
}

asio::awaitable<int> find_providers(dht::Kademlia& dht, const DhtCommandOptions& opts,
                                    const dht::Cid& cid, Clock::time_point deadline,
                                    const Output& out) {
  boost::system::error_code last;
  for (;;) {
    auto found = co_await dht.find_providers(cid);
    if (found && !found->empty()) {
      for (const auto& p : *found) {
        std::string text = p.peer.to_base58();
        for (const auto& a : p.addrs) text += " " + a.to_string();
        out.print({{"event", "provider"},
                   {"cid", cid.to_string()},
                   {"peer", p.peer.to_base58()},
                   {"addrs", addrs_json(p.addrs)}},
                  text);
      }
      co_return kExitOk;
    }
    last = found ? make_error_code(dht::errc::not_found) : found.error();
    if (last == dht::errc::stopped) break;
    const bool again = co_await pause_before_retry(deadline);
    if (!again) break;
  }
  co_return out.fail("not_found",
                     "no provider of " + cid.to_string() + " found within " +
                         std::to_string(opts.timeout_ms) + " ms: " + last.message(),
                     kExitFailure);
}

asio::awaitable<int> get_value(dht::Kademlia& dht, const DhtCommandOptions& opts,
                               const Output& out) {
  auto found = co_await dht.get(opts.target);
  if (!found) {
    co_return out.fail(found.error() == dht::errc::not_found ? "not_found" : "get_failed",
                       opts.target + ": " + found.error().message(), kExitFailure);
  }
  out.print({{"event", "record"},
             {"key", opts.target},
             {"author", found->author.to_base58()},
             {"seq", found->seq},
             {"data", text_of(found->data)}},
            text_of(found->data));
  co_return kExitOk;
}

// Signed as our /bb/ record (Kademlia::put: its seq is above any known for the key and at
// least the wall clock in ms), stored at the closest peers; exit 0 once one peer stored it.
asio::awaitable<int> put_value(dht::Kademlia& dht, const DhtCommandOptions& opts,
                               const Output& out) {
  auto stored = co_await dht.put(opts.target, wire::as_bytes(opts.value));
  if (!stored) {
    co_return out.fail("put_failed", opts.target + ": " + stored.error().message(), kExitFailure);
  }
  out.print(
      {{"event", "stored"}, {"key", stored->key}, {"seq", stored->seq}, {"peers", stored->peers}},
      stored->key + " peers=" + std::to_string(stored->peers));
  if (stored->peers == 0) {
    co_return out.fail("not_stored", "no peer stored " + stored->key, kExitFailure);
  }
  co_return kExitOk;
}

asio::awaitable<int> run_query(dht::Kademlia& dht, const DhtCommandOptions& opts,
                               const Parsed& parsed, Clock::time_point deadline,
                               const Output& out) {
  const std::size_t table = co_await dht.bootstrap(parsed.bootstrap);
  if (table == 0) {
    co_return out.fail("no_bootstrap", "no DHT peer reached through --bootstrap", kExitFailure);
  }
  switch (opts.query) {
    case Query::find_peer: co_return co_await find_peer(dht, opts, *parsed.peer, deadline, out);
    case Query::find_providers:
      co_return co_await find_providers(dht, opts, *parsed.cid, deadline, out);
    case Query::get: co_return co_await get_value(dht, opts, out);
    case Query::put: co_return co_await put_value(dht, opts, out);
  }
  co_return kExitFailure;
}

asio::awaitable<void> run_dht_command(node::Node& node, dht::Kademlia& dht,
                                      const DhtCommandOptions& opts, const Parsed& parsed,
                                      Clock::time_point deadline, const Output& out,
                                      int& exit_code) {
  std::string problem;
  try {
    co_await node.start();
    dht.start();
  } catch (const std::exception& e) {
    problem = wire::error_text(e);
  }
  if (!problem.empty()) {
    exit_code = out.fail("cannot_start", "cannot start: " + problem, kExitFailure);
    co_await node.stop();
    co_return;
  }
  try {
    exit_code = co_await run_query(dht, opts, parsed, deadline, out);
  } catch (const std::exception& e) {
    exit_code = out.fail("internal", wire::error_text(e), kExitFailure);
  }
  co_await dht.stop();
  co_await node.stop();
}

int run_dht(const DhtCommandOptions& opts) {
  const std::string command = "dht " + std::string(name_of(opts.query));
  const Output out(command, opts.json);
  Parsed parsed;
  for (const auto& text : opts.bootstrap) {
    auto addr = parse_addr(text, out);
    if (!addr) return kExitBadInput;
    parsed.bootstrap.push_back(*addr);
  }
  auto listen = parse_addr(opts.listen, out);
  if (!listen) return kExitBadInput;
  auto mode = parse_dht_mode(opts.mode);
  if (!mode) return out.fail("bad_dht_mode", "--dht must be server, client or auto", kExitBadInput);
  switch (opts.query) {
    case Query::find_peer: {
      auto peer = wire::PeerId::parse(opts.target);
      if (!peer) {
        return out.fail("bad_peer_id",
                        "'" + opts.target + "' is not a peer id: " + peer.error().message(),
                        kExitBadInput);
      }
      parsed.peer = *peer;
      break;
    }
    case Query::find_providers: {
      auto cid = dht::Cid::parse(opts.target);
      if (!cid) {
        return out.fail("bad_cid", "'" + opts.target + "' is not a CID: " + cid.error().message(),
                        kExitBadInput);
      }
      parsed.cid = *cid;
      break;
    }
    case Query::get:
      if (!opts.target.starts_with("/bb/")) {
        return out.fail("bad_record_key", "'" + opts.target + "' is not a /bb/<peer id>/<name> key",
                        kExitBadInput);
      }
      break;
    case Query::put:
      if (opts.target.empty() || opts.target.size() > 200 ||
          opts.target.find('\0') != std::string::npos) {
        return out.fail("bad_record_key", "KEY must be 1-200 bytes without NUL", kExitBadInput);
      }
      break;
  }
  if (opts.key_file.empty()) {
    parsed.identity = wire::Ed25519KeyPair::generate();
  } else {
    auto key = wire::read_key_file(opts.key_file);
    if (!key) {
      return out.fail("key_file_unreadable",
                      "cannot load key file " + opts.key_file + ": " + key.error().message(),
                      kExitFailure);
    }
    parsed.identity = *key;
  }

  const auto timeout = std::chrono::milliseconds(opts.timeout_ms);
  const auto deadline = Clock::now() + timeout;
  node::NodeConfig config;
  config.identity = parsed.identity;
  config.listen.push_back(*listen);
  dht::KademliaOptions dht_options;
  dht_options.mode = *mode;
  dht_options.lookup_timeout = timeout;

  asio::io_context io(1);
  node::Node node(io.get_executor(), std::move(config));
  dht::Kademlia dht(node, dht_options);
  int exit_code = kExitOk;
  // The last word on time: bootstrap and the lookups are bounded by themselves; should they
  // not end, the command does not hang.
  asio::steady_timer watchdog(io, timeout + kGrace);
  watchdog.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    out.fail("timeout", "no answer within " + std::to_string(opts.timeout_ms) + " ms",
             kExitFailure);
    std::_Exit(kExitFailure);
  });
  asio::co_spawn(io, run_dht_command(node, dht, opts, parsed, deadline, out, exit_code),
                 [&](std::exception_ptr e) {
                   watchdog.cancel();
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     out.fail("internal", wire::error_text(ex), kExitFailure);
                   }
                   exit_code = kExitFailure;
                 });
  io.run();
  return exit_code;
}

CLI::App* add_query(CLI::App& dht_cmd, int& exit_code, Query query, const char* description,
                    const char* target_name, const char* target_help) {
  auto opts = std::make_shared<DhtCommandOptions>();
  opts->query = query;
  auto* cmd = dht_cmd.add_subcommand(std::string(name_of(query)), description);
  cmd->add_option(target_name, opts->target, target_help)->required();
  if (query == Query::put) cmd->add_option("VALUE", opts->value, "The data (text)")->required();
  cmd->add_option("--bootstrap", opts->bootstrap,
                  "Multiaddr of a DHT node to join through "
                  "(repeatable)")
      ->required();
  cmd->add_option("--listen", opts->listen, "Listen multiaddr")->capture_default_str();
  cmd->add_option("--dht", opts->mode, "DHT mode: client, server or auto")->capture_default_str();
  cmd->add_option("--key,--key-file", opts->key_file,
                  query == Query::put ? "Key file: the record's author (default: a fresh one)"
                                      : "Key file (default: an ephemeral identity)");
  cmd->add_option("--timeout-ms", opts->timeout_ms, "Bound on joining and on the lookups")
      ->check(CLI::Range(1, 3'600'000))
      ->capture_default_str();
  cmd->add_flag("--json", opts->json, "One JSON object per line (docs/cli-json.md)");
  cmd->callback([opts, &exit_code] { exit_code = run_dht(*opts); });
  return cmd;
}

}  // namespace

void add_dht_commands(CLI::App& app, int& exit_code) {
  auto* dht_cmd = app.add_subcommand(
      "dht", "Kademlia DHT queries (/ipfs/kad/1.0.0) from a node that joins through --bootstrap");
  dht_cmd->require_subcommand(1);
  add_query(*dht_cmd, exit_code, Query::find_peer,
            "Print a peer's addresses, one multiaddr per line (--json: {\"peer\",\"addrs\"}); exit "
            "1 if it is not found in time",
            "PEERID", "The peer to look up");
  add_query(*dht_cmd, exit_code, Query::find_providers,
            "Print the providers of a CID, one line each: PEERID MULTIADDR... (--json: "
            "{\"peer\",\"addrs\"}); exit 1 if none is found in time",
            "CID", "The content identifier (CIDv0 Qm..., CIDv1 b... or z...)");
  add_query(*dht_cmd, exit_code, Query::get,
            "Print the data of a /bb/ record: as is when UTF-8 without control characters, else "
            "0x-hex (--json: "
            "{\"key\",\"author\",\"seq\",\"data\"})",
            "KEY", "The full key, /bb/<peer id>/<name>");
  add_query(*dht_cmd, exit_code, Query::put,
            "Store VALUE under /bb/<our peer id>/KEY, signed; print the full key and how many "
            "peers stored it; exit 0 if at least one did",
            "KEY", "The name under /bb/<our peer id>/ (1-200 bytes)");
}

}  // namespace bb::cli
