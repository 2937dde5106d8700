#include "bb/dht/query.hpp"

#include "bb/async/event.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>

#include <deque>
#include <memory>
#include <optional>

namespace bb::dht {

namespace asio = boost::asio;

namespace {

struct Outcomes {
  explicit Outcomes(const asio::any_io_executor& ex) : ready(ex) {}
  std::deque<std::pair<wire::PeerId, boost::system::result<Message>>> done;
  async::Event ready;
  bool abandoned = false;
};

asio::awaitable<void> ask_one(std::shared_ptr<Outcomes> out, Ask ask, wire::PeerId peer,
                              Message request) {
  boost::system::result<Message> answer = make_error_code(boost::system::errc::io_error);
  try {
    answer = co_await ask(peer, request);
  } catch (const boost::system::system_error& e) {
    answer = e.code();
  } catch (const std::exception&) {
    answer = make_error_code(boost::system::errc::io_error);
  }
  if (out->abandoned) co_return;
  out->done.emplace_back(std::move(peer), std::move(answer));
  out->ready.notify();
}

}  // namespace

asio::awaitable<bool> drive(Lookup& lookup, const Message& request, const Ask& ask,
                            const DriveHooks& hooks, async::Clock& clock, std::uint64_t timeout_ns,
                            async::TaskGroup& tasks) {
  using namespace asio::experimental::awaitable_operators;
  auto out = std::make_shared<Outcomes>(co_await asio::this_coro::executor);
  struct Abandon {
    std::shared_ptr<Outcomes>& o;
    ~Abandon() { o->abandoned = true; }
  } abandon{out};
  const std::uint64_t deadline = clock.now_ns() + timeout_ns;
  while (true) {
    for (auto& peer : lookup.next()) {
      tasks.spawn(ask_one(out, ask, peer, request), "dht request");
    }
    if (lookup.done()) co_return true;
    while (out->done.empty()) {
      if (clock.now_ns() >= deadline) co_return false;
      co_await (out->ready.wait() || clock.sleep_until(deadline));
    }
    while (!out->done.empty()) {
      auto [peer, answer] = std::move(out->done.front());
      out->done.pop_front();
      if (!answer) {
        lookup.on_failure(peer);
        if (hooks.on_failure) hooks.on_failure(peer);
        continue;
      }
      std::vector<wire::PeerId> closer;
      closer.reserve(answer->closer_peers.size());
      for (const auto& e : answer->closer_peers) closer.push_back(e.id);
      lookup.on_answer(peer, closer);
      if (hooks.on_answer && hooks.on_answer(peer, *answer)) {
        lookup.finish();
        co_return true;
      }
    }
  }
}

}  // namespace bb::dht
