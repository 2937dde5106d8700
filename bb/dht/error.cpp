#include "bb/dht/error.hpp"

#include <string>

namespace bb::dht {

namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "bb.dht"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::bad_message: return "not a kad message";
      case errc::message_too_large: return "kad message too large";
      case errc::message_truncated: return "stream ended inside a kad message";
      case errc::message_limit: return "kad message over its limits";
      case errc::bad_key: return "bad key";
      case errc::bad_record: return "record refused by its validator";
      case errc::unknown_namespace: return "record key in an unknown namespace";
      case errc::bad_provider: return "provider is not the sender";
      case errc::peer_query_limit: return "too many requests from this peer at once";
      case errc::store_full: return "store full";
      case errc::not_found: return "not found";
      case errc::timeout: return "lookup timed out";
      case errc::no_peers: return "no peers to ask";
      case errc::stopped: return "dht stopped";
      case errc::bad_response: return "bad response";
    }
    return "unknown dht error";
  }
};

}  // namespace

const boost::system::error_category& dht_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace bb::dht
