// bb-node keygen / id / multiaddr: identities and addresses, no networking.
#include "examples/node/commands.hpp"

#include "bb/wire/keys.hpp"
#include "bb/wire/multiaddr.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

namespace bb::cli {
namespace {

struct KeygenOptions {
  std::string out;
  bool force = false;
};

struct IdOptions {
  std::string key_file;
  std::string key_hex;
};

int run_keygen(const KeygenOptions& opts) {
  const auto key = wire::Ed25519KeyPair::generate();
  if (auto written = wire::write_key_file(opts.out, key, opts.force); !written) {
    std::cerr << "bb-node keygen: cannot write " << opts.out << ": " << written.error().message()
              << (written.error() == boost::system::errc::file_exists
                      ? " (use --force to replace it)"
                      : "")
              << "\n";
    return kExitFailure;
  }
  std::cout << key.peer_id().to_base58() << "\n";
  return kExitOk;
}

int run_id(const IdOptions& opts) {
  wire::result<wire::Ed25519KeyPair> key = wire::errc::key_malformed;
  if (!opts.key_hex.empty()) {
    auto bytes = wire::from_hex(opts.key_hex);
    if (!bytes) {
      std::cerr << "bb-node id: --key-hex: " << bytes.error().message() << "\n";
      return kExitBadInput;
    }
    key = wire::Ed25519KeyPair::from_protobuf(*bytes);
    if (!key) {
      std::cerr << "bb-node id: --key-hex is not a libp2p private key: " << key.error().message()
                << "\n";
      return kExitBadInput;
    }
  } else {
    key = wire::read_key_file(opts.key_file);
    if (!key) {
      std::cerr << "bb-node id: cannot load key file " << opts.key_file << ": "
                << key.error().message() << "\n";
      return key.error().category() == wire::wire_category() ? kExitBadInput : kExitFailure;
    }
  }
  std::cout << key->peer_id().to_base58() << "\n";
  return kExitOk;
}

int run_multiaddr(const std::string& text) {
  if (text.starts_with("0x") || text.starts_with("0X")) {
    auto bytes = wire::from_hex(text);
    if (!bytes) {
      std::cerr << "bb-node multiaddr: '" << text << "': " << bytes.error().message() << "\n";
      return kExitBadInput;
    }
    auto addr = wire::Multiaddr::from_bytes(*bytes);
    if (!addr) {
      std::cerr << "bb-node multiaddr: '" << text
                << "' is not a binary multiaddr: " << addr.error().message() << "\n";
      return kExitBadInput;
    }
    std::cout << addr->to_string() << "\n";
    return kExitOk;
  }
  auto addr = wire::Multiaddr::parse(text);
  if (!addr) {
    std::cerr << "bb-node multiaddr: '" << text
              << "' is not a multiaddr: " << addr.error().message() << "\n";
    return kExitBadInput;
  }
  std::cout << wire::to_hex(addr->bytes()) << "\n";
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
  keygen->callback([keygen_opts, &exit_code] { exit_code = run_keygen(*keygen_opts); });

  auto id_opts = std::make_shared<IdOptions>();
  auto* id = app.add_subcommand("id", "Print the PeerId (base58btc) of a private key");
  auto* key_file = id->add_option("--key", id_opts->key_file, "Key file (libp2p protobuf)");
  auto* key_hex =
      id->add_option("--key-hex", id_opts->key_hex, "Hex of a libp2p protobuf PrivateKey");
  key_file->excludes(key_hex);
  id->require_option(1);
  id->callback([id_opts, &exit_code] { exit_code = run_id(*id_opts); });

  auto addr_text = std::make_shared<std::string>();
  auto* maddr = app.add_subcommand(
      "multiaddr", "Convert a multiaddr: text -> hex of its binary form, 0x<hex> -> text");
  maddr->add_option("ADDR", *addr_text, "e.g. /ip4/127.0.0.1/tcp/4001 or 0x047f0000010610e1")
      ->required();
  maddr->callback([addr_text, &exit_code] { exit_code = run_multiaddr(*addr_text); });
}

}  // namespace bb::cli
