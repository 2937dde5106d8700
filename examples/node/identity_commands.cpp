// bb-node keygen / id / multiaddr: identities and addresses, no networking.
#include "examples/node/commands.hpp"

#include "bb/wire/keys.hpp"
#include "bb/wire/multiaddr.hpp"
#include "examples/node/output.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

namespace bb::cli {
namespace {

struct KeygenOptions {
  std::string out;
  bool force = false;
  bool json = false;
};

struct IdOptions {
  std::string key_file;
  std::string key_hex;
  bool json = false;
};

struct MultiaddrOptions {
  std::string text;
  bool json = false;
};

int run_keygen(const KeygenOptions& opts) {
  const Output out("keygen", opts.json);
  const auto key = wire::Ed25519KeyPair::generate();
  if (auto written = wire::write_key_file(opts.out, key, opts.force); !written) {
    const bool exists = written.error() == boost::system::errc::file_exists;
    return out.fail(exists ? "key_file_exists" : "key_file_unwritable",
                    "cannot write " + opts.out + ": " + written.error().message() +
                        (exists ? " (use --force to replace it)" : ""),
                    kExitFailure);
  }
  const auto peer = key.peer_id().to_base58();
  out.print({{"event", "key"}, {"peer", peer}, {"file", opts.out}}, peer);
  return kExitOk;
}

int run_id(const IdOptions& opts) {
  const Output out("id", opts.json);
  wire::result<wire::Ed25519KeyPair> key = wire::errc::key_malformed;
  if (!opts.key_hex.empty()) {
    auto bytes = wire::from_hex(opts.key_hex);
    if (!bytes) return out.fail("bad_hex", "--key-hex: " + bytes.error().message(), kExitBadInput);
    key = wire::Ed25519KeyPair::from_protobuf(*bytes);
    if (!key) {
      return out.fail("bad_key", "--key-hex is not a libp2p private key: " + key.error().message(),
                      kExitBadInput);
    }
  } else {
    key = wire::read_key_file(opts.key_file);
    if (!key) {
      // A file that is there but holds no key is bad input; one that cannot be read is not.
      const bool malformed = key.error().category() == wire::wire_category();
      return out.fail(malformed ? "bad_key_file" : "key_file_unreadable",
                      "cannot load key file " + opts.key_file + ": " + key.error().message(),
                      malformed ? kExitBadInput : kExitFailure);
    }
  }
  const auto peer = key->peer_id().to_base58();
  out.print({{"event", "id"}, {"peer", peer}}, peer);
  return kExitOk;
}

int run_multiaddr(const MultiaddrOptions& opts) {
  const Output out("multiaddr", opts.json);
  const std::string& text = opts.text;
  if (text.starts_with("0x") || text.starts_with("0X")) {
    auto bytes = wire::from_hex(text);
    if (!bytes) {
      return out.fail("bad_hex", "'" + text + "': " + bytes.error().message(), kExitBadInput);
    }
    auto addr = wire::Multiaddr::from_bytes(*bytes);
    if (!addr) {
      return out.fail("bad_multiaddr",
                      "'" + text + "' is not a binary multiaddr: " + addr.error().message(),
                      kExitBadInput);
    }
    out.print({{"event", "multiaddr"}, {"text", addr->to_string()}, {"hex", wire::to_hex(*bytes)}},
              addr->to_string());
    return kExitOk;
  }
  auto addr = wire::Multiaddr::parse(text);
  if (!addr) {
    return out.fail("bad_multiaddr", "'" + text + "' is not a multiaddr: " + addr.error().message(),
                    kExitBadInput);
  }
  const auto hex = wire::to_hex(addr->bytes());
  out.print({{"event", "multiaddr"}, {"text", addr->to_string()}, {"hex", hex}}, hex);
  return kExitOk;
}

}  // namespace

void add_identity_commands(CLI::App& app, int& exit_code) {
  auto keygen_opts = std::make_shared<KeygenOptions>();
  auto* keygen = app.add_subcommand("keygen",
                                    "Create a new Ed25519 identity key file (mode 0600) "
                                    "and print its PeerId");
  keygen->add_option("--out", keygen_opts->out, "Key file to create")->required();
  keygen->add_flag("--force", keygen_opts->force, "Replace the file if it exists");
  keygen->add_flag("--json", keygen_opts->json, "Print the outcome as one JSON object");
  keygen->callback([keygen_opts, &exit_code] { exit_code = run_keygen(*keygen_opts); });

  auto id_opts = std::make_shared<IdOptions>();
  auto* id = app.add_subcommand("id", "Print the PeerId (base58btc) of a private key");
  // Exactly one of --key and --key-hex; a group of their own, so that --json does not count.
  auto* key_source = id->add_option_group("key", "Where the key comes from (one of)");
  auto* key_file = key_source->add_option("--key", id_opts->key_file, "Key file (libp2p protobuf)");
  auto* key_hex =
      key_source->add_option("--key-hex", id_opts->key_hex, "Hex of a libp2p protobuf PrivateKey");
  key_file->excludes(key_hex);
  key_source->require_option(1);
  id->add_flag("--json", id_opts->json, "Print the outcome as one JSON object");
  id->callback([id_opts, &exit_code] { exit_code = run_id(*id_opts); });

  auto maddr_opts = std::make_shared<MultiaddrOptions>();
  auto* maddr = app.add_subcommand(
      "multiaddr", "Convert a multiaddr: text -> hex of its binary form, 0x<hex> -> text");
  maddr->add_option("ADDR", maddr_opts->text, "e.g. /ip4/127.0.0.1/tcp/4001 or 0x047f0000010610e1")
      ->required();
  maddr->add_flag("--json", maddr_opts->json,
                  "Print {\"text\",\"hex\"}: both forms, whichever was given");
  maddr->callback([maddr_opts, &exit_code] { exit_code = run_multiaddr(*maddr_opts); });
}

}  // namespace bb::cli
