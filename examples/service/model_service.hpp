// The service's state and commands: the models it holds, the AsyncLoader they are loaded through,
// and the loop's lateness monitor. Every method runs on the loop thread; nothing here blocks it
// except `load ... mode=blocking`, the synchronous baseline the bench compares against.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <nlohmann/json.hpp>

#include <ringload/async.hpp>

#include "lateness.hpp"
#include "request.hpp"

namespace service {

using nlohmann::json;

struct ServiceOptions {
  ringload::AsyncLoaderOptions loader;
  std::chrono::microseconds tick{1000};
};

class ModelService {
 public:
  ModelService(const boost::asio::any_io_executor& executor, const ServiceOptions& options);
  ModelService(const ModelService&) = delete;
  ModelService& operator=(const ModelService&) = delete;
  ~ModelService();

  // One request line in, one JSON response out ({"ok": true, ...} or {"ok": false, "error": ...}).
  boost::asio::awaitable<json> handle(std::string line);

  // Cancels the loads in flight and stops the timer; set by the `shutdown` command too.
  void shut_down();
  [[nodiscard]] bool shutting_down() const noexcept { return shutting_down_; }

 private:
  struct Model {
    std::string name;
    std::string path;
    std::string sink_kind;
    std::string mode;
    std::unique_ptr<ringload::Sink> sink;
    std::shared_ptr<ringload::TensorReadiness> readiness;
    boost::asio::cancellation_signal cancel;
    bool loading = true;
    bool cancel_requested = false;
    bool unloading = false;
    std::optional<ringload::LoadReport> report;
  };

  boost::asio::awaitable<json> load(const Request& request);
  boost::asio::awaitable<json> wait_for_tensor(const Request& request);
  json cancel(const Request& request);
  boost::asio::awaitable<json> unload(const Request& request);
  json list() const;
  json stats(const Request& request);

  boost::asio::any_io_executor executor_;
  LatenessMonitor lateness_;
  std::map<std::string, std::shared_ptr<Model>> models_;
  bool shutting_down_ = false;
  // Declared last, destroyed first: its destructor cancels and waits out every load in flight,
  // whose sinks live in models_.
  ringload::AsyncLoader loader_;
};

}  // namespace service
