#include "bb/runtime/events.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bb::runtime {

namespace asio = boost::asio;

namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

}  // namespace

std::string_view event_name(const Event& event) noexcept {
  return std::visit(overloaded{
                        [](const PeerUp&) { return std::string_view("peer_up"); },
                        [](const PeerDown&) { return std::string_view("peer_down"); },
                        [](const PeerSuspect&) { return std::string_view("peer_suspect"); },
                        [](const PeerBlocked&) { return std::string_view("peer_blocked"); },
                        [](const SendFailed&) { return std::string_view("send_failed"); },
                        [](const OutboundDropped&) { return std::string_view("outbound_dropped"); },
                        [](const Timeout&) { return std::string_view("timeout"); },
                    },
                    event);
}

struct EventQueue::Waiter {
  asio::any_completion_handler<void(boost::system::error_code)> handler;
  // Taken from the concrete handler before type erasure: an any_completion_executor cannot be
  // posted to in Asio 1.26.
  asio::any_io_executor executor;
  // The concrete handler's slot, also taken before erasure: the erased handler's own associated
  // slot is not the one the cancellation handler was installed in.
  asio::cancellation_slot slot;
};

EventQueue::EventQueue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

EventQueue::~EventQueue() = default;

void EventQueue::emit(Event event) {
  if (closed_) return;
  if (events_.size() >= capacity_) {
    events_.pop_front();
    ++dropped_;
  }
  events_.push_back(std::move(event));
  ++emitted_;
  wake();
}

std::optional<Event> EventQueue::try_next() {
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

void EventQueue::close() {
  closed_ = true;
  wake();
}

void EventQueue::wake() {
  if (!waiter_) return;
  auto waiter = std::move(waiter_);
  if (waiter->slot.is_connected()) waiter->slot.clear();
  asio::post(waiter->executor, [h = std::move(waiter->handler)]() mutable {
    std::move(h)(boost::system::error_code{});
  });
}

asio::awaitable<std::optional<Event>> EventQueue::next() {
  while (events_.empty() && !closed_) {
    auto initiation = [this](auto handler) {
      auto slot = asio::get_associated_cancellation_slot(handler);
      asio::any_io_executor executor = asio::get_associated_executor(handler);
      waiter_ = std::make_unique<Waiter>(Waiter{std::move(handler), std::move(executor), slot});
      if (slot.is_connected()) {
        slot.assign([this](asio::cancellation_type) {
          if (!waiter_) return;
          auto waiter = std::move(waiter_);
          asio::post(waiter->executor, [h = std::move(waiter->handler)]() mutable {
            std::move(h)(asio::error::operation_aborted);
          });
        });
      }
    };
    boost::system::error_code ec;
    try {
      co_await asio::async_initiate<const asio::use_awaitable_t<>&,
                                    void(boost::system::error_code)>(initiation,
                                                                     asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
      ec = e.code();
    }
    if (ec) co_return std::nullopt;
  }
  co_return try_next();
}

}  // namespace bb::runtime
