#include "bb/async/task_group.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

namespace bb::async {

void log_task_failure(const std::string& name, std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    if (e.code() == boost::asio::error::operation_aborted) return;  // cancelled: expected
    spdlog::warn("{} ended: {}", name, e.what());
  } catch (const std::exception& e) {
    spdlog::error("{} failed: {}", name, e.what());
  } catch (...) {
    spdlog::error("{} failed with a non-standard exception", name);
  }
}

}  // namespace bb::async
