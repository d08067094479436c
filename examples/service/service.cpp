// ringload-service: a small Asio program that loads and unloads models on request without
// blocking its event loop, and measures that claim with a 1 ms periodic timer.
//
//   ringload-service --socket /tmp/ringload.sock &
//   printf 'load m model.safetensors\nstats\nunload m\n' | nc -U -q1 /tmp/ringload.sock
//
// One thread runs the loop (io_context::run): the Unix-socket server, every request handler and
// the lateness timer. Loads run on the AsyncLoader's io thread and complete back on the loop.
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <list>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "model_service.hpp"

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace {

constexpr std::size_t kMaxRequestBytes = 64 * 1024;

// sched_setattr(2) with SCHED_OTHER and sched_runtime = the slice: EEVDF (Linux 6.12+) gives a
// task with a shorter slice an earlier deadline, so its wake-ups preempt a busy thread instead of
// waiting for the next scheduler tick. glibc 2.36 has no wrapper.
bool request_scheduling_slice(std::uint32_t microseconds, std::string& error) {
  struct SchedAttr {  // struct sched_attr, version 0 (48 bytes): <linux/sched/types.h> clashes with <sched.h>
    std::uint32_t size;
    std::uint32_t sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime;
    std::uint64_t sched_deadline;
    std::uint64_t sched_period;
  };
  SchedAttr attr{};
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
  attr.sched_runtime = std::uint64_t{microseconds} * 1000;
  if (::syscall(SYS_sched_setattr, 0, &attr, 0) == 0) return true;
  error = std::string("sched_setattr(sched_runtime) failed: ") + std::strerror(errno);
  return false;
}

class Server {
 public:
  Server(asio::io_context& io, const std::string& socket_path, const service::ServiceOptions& options)
      : io_(io),
        socket_path_(socket_path),
        service_(io.get_executor(), options),
        acceptor_(io),
        signals_(io) {}

  bool open(std::string& error) {
    std::error_code ignored;
    std::filesystem::remove(socket_path_, ignored);  // a stale socket from a killed run
    boost::system::error_code ec;
    const stream_protocol::endpoint endpoint(socket_path_);
    if (acceptor_.open(endpoint.protocol(), ec); !ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error = socket_path_ + ": " + ec.message();
      return false;
    }
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](const boost::system::error_code& signal_ec, int) {
      if (!signal_ec) shut_down();
    });
    asio::co_spawn(io_, accept_loop(), asio::detached);
    return true;
  }

  ~Server() {
    std::error_code ignored;
    std::filesystem::remove(socket_path_, ignored);
  }

 private:
  asio::awaitable<void> accept_loop() {
    const auto token = asio::as_tuple(asio::use_awaitable);
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(token);
      if (ec) co_return;  // closed by shut_down()
      connections_.push_front(std::make_shared<stream_protocol::socket>(std::move(socket)));
      asio::co_spawn(io_, serve(connections_.begin()), asio::detached);
    }
  }

  // One connection: requests in order, one response line each. Concurrent loads come from
  // concurrent connections.
  asio::awaitable<void> serve(std::list<std::shared_ptr<stream_protocol::socket>>::iterator at) {
    const std::shared_ptr<stream_protocol::socket> socket = *at;
    asio::streambuf input(kMaxRequestBytes);
    const auto token = asio::as_tuple(asio::use_awaitable);
    for (;;) {
      auto [read_ec, n] = co_await asio::async_read_until(*socket, input, '\n', token);
      if (read_ec) break;  // closed, or a line longer than kMaxRequestBytes
      std::string line(asio::buffers_begin(input.data()),
                       asio::buffers_begin(input.data()) + std::ptrdiff_t(n - 1));
      input.consume(n);
      const service::json response = co_await service_.handle(std::move(line));
      // Replace, not throw: a path in an error message need not be UTF-8.
      const std::string out = response.dump(-1, ' ', false, service::json::error_handler_t::replace) + "\n";
      const auto buffer = asio::buffer(out);
      auto [write_ec, written] = co_await asio::async_write(*socket, buffer, token);
      if (write_ec) break;
      if (service_.shutting_down()) {
        shut_down();
        break;
      }
    }
    boost::system::error_code ignored;
    socket->close(ignored);
    connections_.erase(at);
  }

  // Stops accepting, cancels the loads in flight and closes every connection: once the loads have
  // completed, nothing is left to run and io_context::run() returns.
  void shut_down() {
    service_.shut_down();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    signals_.cancel(ignored);
    for (auto& socket : connections_) socket->cancel(ignored);
  }

  asio::io_context& io_;
  std::string socket_path_;
  service::ModelService service_;
  stream_protocol::acceptor acceptor_;
  asio::signal_set signals_;
  std::list<std::shared_ptr<stream_protocol::socket>> connections_;
};

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{
      "ringload-service: loads and unloads models over a Unix socket without blocking its event loop.\n"
      "Requests, one per line; each gets one JSON line back:\n"
      "  load NAME PATH [strategy=auto] [sink=host|null|cuda] [mode=async|blocking]\n"
      "      mode=blocking calls the synchronous mmap loader on the loop thread (the baseline)\n"
      "  tensor NAME TENSOR   waits until that tensor is loaded (per-tensor readiness)\n"
      "  cancel NAME | unload NAME | list | stats [reset] | shutdown | help\n"
      "stats gives the 1 ms timer's lateness (p50/p99/max) since the last `stats reset`."};
  std::string socket_path;
  service::ServiceOptions options;
  std::uint32_t tick_us = 1000;
  std::uint32_t loop_slice_us = 0;
  std::uint64_t slot_mib = options.loader.slot_size >> 20;
  app.add_option("--socket", socket_path, "Unix socket path to listen on")->required();
  app.add_option("--slots", options.loader.slot_count, "staging ring slots shared by every load")
      ->capture_default_str();
  app.add_option("--slot-mib", slot_mib, "staging slot size in MiB")->capture_default_str();
  app.add_option("--io-nice", options.loader.io_thread_nice, "niceness added to the loader's io thread")
      ->capture_default_str();
  app.add_option(
         "--loop-slice-us", loop_slice_us,
         "ask the kernel (Linux >= 6.12, EEVDF) for this scheduling slice on the loop thread: a short "
         "slice lets its wake-ups preempt busy threads (0: the kernel's default)")
      ->capture_default_str();
  app.add_option("--tick-us", tick_us, "period of the lateness timer in microseconds")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  options.loader.slot_size = slot_mib << 20;
  options.tick = std::chrono::microseconds(tick_us);

  if (loop_slice_us > 0) {
    if (std::string error; !request_scheduling_slice(loop_slice_us, error)) {
      (void)std::fprintf(stderr, "ringload-service: warning: %s\n", error.c_str());
    }
  }
  asio::io_context io(1);
  Server server(io, socket_path, options);
  if (std::string error; !server.open(error)) {
    (void)std::fprintf(stderr, "ringload-service: %s\n", error.c_str());
    return 1;
  }
  (void)std::fprintf(stderr, "ringload-service: listening on %s\n", socket_path.c_str());
  io.run();
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // Asio reports a failed setup (no thread, no epoll) by throwing
    (void)std::fprintf(stderr, "ringload-service: %s\n", e.what());
    return 1;
  }
}
