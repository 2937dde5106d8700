// The Node's request/response room, on the envelope's correlation (REQUEST / RESPONSE with a
// wire_req_id):
//
//   client: request() tracks a fresh RequestTracker token (the timeout as its deadline), sends a
//           REQUEST to the service's suffix with the send pipeline (awaiting the receipt), and
//           waits for the RESPONSE carrying that token from that peer, or the timeout. It
//           completes its token itself whatever the outcome, so the tables' tick() reports a
//           Timeout only for a request whose caller stopped awaiting it.
//   server: a REQUEST fill at a served suffix (/component/0/op/<name>) runs the service's
//           handler as a Node task, bounded per peer and in all; the answer is a RESPONSE with
//           the same wire_req_id and suffix, sent with the request's remaining budget.
//
// The DeliverStage hands every RESPONSE fill and every fill at a service suffix here instead
// of to the inbox. Thread rule: the Node's executor. Cancellation: a cancelled request() leaves
// its token tracked (the Timeout event reports it). stop() first drains: new requests are
// refused `stopped`, running handlers get up to NodeConfig::drain_timeout and their answers go
// out; then every awaited request fails `stopped` and the Node's task group cancels what still
// runs.
#pragma once

#include "bb/node/detail/core.hpp"
#include "bb/wire/resource_manager.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>

namespace bb::node::detail {

// What the room needs of the Node: its send path (gates, then wire.Send), counted as a send.
class SendPath {
 public:
  virtual boost::asio::awaitable<runtime::Verdict> send_message(runtime::Message& msg,
                                                                bool await_receipt) = 0;

 protected:
  ~SendPath() = default;
};

class Requests {
 public:
  static constexpr std::size_t kMaxServingPerPeer = 64;
  static constexpr std::size_t kMaxServing = 4096;

  Requests(Core& core, SendPath& path);
  Requests(const Requests&) = delete;
  Requests& operator=(const Requests&) = delete;

  boost::asio::awaitable<RequestResult> request(wire::PeerId peer, std::string_view service,
                                                wire::ByteView payload, RequestOptions options);
  void serve(std::string service, ServiceHandler handler);

  // Whether a fill's dest_suffix names a service (/component/0/...), served or not.
  bool is_service(wire::ByteView suffix) const;
  // From the DeliverStage: a RESPONSE fill, and a REQUEST fill at a service suffix.
  runtime::Verdict on_response(const runtime::Message& msg);
  boost::asio::awaitable<runtime::Verdict> on_request(const runtime::Message& msg);

  // stop(): every awaited request ends `stopped`.
  void fail_all(std::string_view why, const std::string& detail);
  // The connection to `peer` closed: every awaited request to it ends with `why`.
  void fail_peer(const wire::PeerId& peer, std::string_view why, const std::string& detail);

  std::size_t awaiting() const noexcept { return pending_.size(); }
  std::size_t serving() const noexcept { return serving_total_; }
  // Notified when a handler ends.
  async::Event& handler_ended() noexcept { return ended_; }

 private:
  struct Pending {
    explicit Pending(const boost::asio::any_io_executor& ex) : changed(ex) {}
    wire::PeerId peer = runtime::unset_peer();
    std::optional<Received> response;
    runtime::Verdict failure;
    bool done = false;
    async::Event changed;
  };
  struct Service {
    std::string name;
    std::shared_ptr<const ServiceHandler> handler;
  };

  static boost::asio::awaitable<void> throw_if_cancelled();
  static boost::asio::awaitable<void> wait_done(std::shared_ptr<Pending> pending);
  RequestResult finish(std::uint64_t token, const std::shared_ptr<Pending>& pending,
                       runtime::Verdict failure);
  boost::asio::awaitable<void> answer(Received request,
                                      std::shared_ptr<const ServiceHandler> handler,
                                      wire::PeerMemory held);
  bool expired(const Received& request) const;
  void released(const wire::PeerId& peer);

  Core& core_;
  SendPath& path_;
  wire::Bytes prefix_;  // the bytes of /component/0
  std::unordered_map<std::uint64_t, std::shared_ptr<Pending>> pending_;  // by token
  std::unordered_map<std::string, Service> services_;                    // by suffix bytes
  std::unordered_map<wire::PeerId, std::size_t> serving_;  // handlers running, per peer
  std::size_t serving_total_ = 0;
  async::Event room_;   // a handler ended, or the node is stopping
  async::Event ended_;  // a handler ended: what a draining stop() waits on
};

}  // namespace bb::node::detail
