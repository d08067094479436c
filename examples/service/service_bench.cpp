// service-bench: how long does a service's event loop wait while a model loads?
//
// Starts ringload-service, then loads MODEL through it again and again, cold each time, two ways,
// interleaved: `async` (ringload::async_load; the loop only queues the load and takes the
// completion) and `blocking` (the synchronous mmap loader called from the loop thread, what a
// service without an async loader does). During each load the service's 1 ms periodic timer
// records how late each tick fired; the bench prints p50 / p99 / max lateness per mode (medians
// over the repeats) beside the load's own time, and the same for an idle window as the floor.
//
//   ringload gen --format safetensors --size 8GiB /var/tmp/m8.safetensors
//   service-bench /var/tmp/m8.safetensors --repeat 5 --json lateness.json
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <ringload/memstat.hpp>

namespace asio = boost::asio;
using asio::local::stream_protocol;
using nlohmann::json;

namespace {

// The service as a child process; killed and reaped if the bench leaves early.
class ServiceProcess {
 public:
  ServiceProcess(const std::string& binary, const std::string& socket_path, std::vector<std::string> args) {
    args.insert(args.begin(), {binary, "--socket", socket_path});
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execv(binary.c_str(), argv.data());
      (void)std::fprintf(stderr, "service-bench: cannot run %s: %s\n", binary.c_str(), std::strerror(errno));
      ::_exit(127);
    }
  }
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;
  ~ServiceProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    (void)wait();
  }
  [[nodiscard]] bool started() const noexcept { return pid_ > 0; }
  [[nodiscard]] bool running() const {
    int status = 0;
    return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0;
  }
  int wait() {
    int status = 0;
    while (pid_ > 0 && ::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

class Client {
 public:
  explicit Client(asio::io_context& io) : socket_(io) {}

  bool connect(const std::string& path, const ServiceProcess& service, std::string& error) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    boost::system::error_code ec;
    do {
      socket_.close(ec);
      socket_.connect(stream_protocol::endpoint(path), ec);
      if (!ec) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (service.running() && std::chrono::steady_clock::now() < give_up);
    error = fmt::format("cannot connect to {}: {}", path, ec.message());
    return false;
  }

  // Sends one request line and waits for its JSON line; {"ok": false, ...} on a broken socket.
  json request(const std::string& line) { return send(line) ? receive() : broken(); }

  bool send(const std::string& line) {
    asio::write(socket_, asio::buffer(line + "\n"), ec_);
    return !ec_;
  }

  json receive() {
    boost::system::error_code& ec = ec_;
    {
      const std::size_t n = asio::read_until(socket_, input_, '\n', ec);
      if (!ec) {
        std::string text(asio::buffers_begin(input_.data()),
                         asio::buffers_begin(input_.data()) + std::ptrdiff_t(n));
        input_.consume(n);
        return json::parse(text, nullptr, /*allow_exceptions=*/false);
      }
    }
    return broken();
  }

 private:
  [[nodiscard]] json broken() const {
    return json{{"ok", false}, {"error", fmt::format("service connection: {}", ec_.message())}};
  }

  boost::system::error_code ec_;
  stream_protocol::socket socket_;
  asio::streambuf input_;
};

// Drops the file's pages from the page cache (clean pages only, which a generated and synced
// model is), so each load starts cold. Returns the fraction still cached.
double evict(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fdatasync(fd);
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
  auto cached = ringload::file_cache_stat(path);
  return cached && cached->total_pages > 0 ? double(cached->resident_pages) / double(cached->total_pages)
                                           : 0.0;
}

struct Run {
  std::string mode;
  int repeat = 0;
  json load;   // the service's load response
  json timer;  // the service's stats.timer over the load
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::vector<double> column(const std::vector<Run>& runs, const std::string& mode, const char* part,
                           const char* key) {
  std::vector<double> out;
  for (const Run& r : runs) {
    if (r.mode == mode) out.push_back((std::string(part) == "load" ? r.load : r.timer).value(key, 0.0));
  }
  return out;
}

std::string range(const std::vector<double>& v, double scale, int precision) {
  if (v.empty()) return "-";
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return fmt::format("{:.{}f} ({:.{}f}-{:.{}f})", median(v) * scale, precision, *lo * scale, precision,
                     *hi * scale, precision);
}

std::string default_service_binary() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "ringload-service" : (self.parent_path() / "ringload-service").string();
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{
      "service-bench: timer lateness in ringload-service's event loop while it loads a model, with\n"
      "ringload's async_load vs the synchronous mmap loader called from the loop thread.\n"
      "Each load is cold (the file's pages are dropped first); modes alternate every repeat."};
  std::string model;
  std::string service_binary = default_service_binary();
  std::string strategy = "auto";
  std::string sink = "host";
  std::string json_path;
  int repeat = 3;
  std::vector<std::string> modes = {"async", "blocking"};
  std::vector<std::string> service_args;
  double idle_s = 1.0;
  double cancel_after_s = 0.5;
  app.add_option("MODEL", model, "model file (.safetensors, .gguf, .apr); e.g. ringload gen --size 8GiB")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--service", service_binary, "the ringload-service binary")->capture_default_str();
  app.add_option("--repeat", repeat, "loads per mode")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--strategy", strategy, "ringload strategy of the async mode")->capture_default_str();
  app.add_option("--sink", sink, "where loaded tensors go: host, null or cuda")->capture_default_str();
  app.add_option("--idle-s", idle_s, "seconds of idle loop measured first (the floor)")
      ->capture_default_str();
  app.add_option("--modes", modes, "which modes to run, in this order on odd repeats")
      ->capture_default_str()
      ->delimiter(',')
      ->check(CLI::IsMember({"async", "blocking"}));
  app.add_option("--service-arg", service_args,
                 "an argument for ringload-service (repeatable), e.g. --io-nice=10")
      ->allow_extra_args(false);
  app.add_option("--cancel-after-s", cancel_after_s,
                 "then cancel an async load this long after it starts, --repeat times, and time the answer "
                 "(0: skip)")
      ->capture_default_str();
  app.add_option("--json", json_path, "write every run and the summary as JSON here");
  CLI11_PARSE(app, argc, argv);
  model = std::filesystem::absolute(model).string();

  char dir_template[] = "/tmp/ringload-service-bench.XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    (void)std::fprintf(stderr, "service-bench: mkdtemp: %s\n", std::strerror(errno));
    return 1;
  }
  const std::string socket_path = std::string(dir_template) + "/service.sock";
  int status = 0;
  json document;
  {
    ServiceProcess service(service_binary, socket_path, service_args);
    asio::io_context io;
    Client client(io);
    std::string error;
    if (!service.started() || !client.connect(socket_path, service, error)) {
      (void)std::fprintf(stderr, "service-bench: %s\n",
                         error.empty() ? "cannot start the service" : error.c_str());
      return 1;
    }

    (void)client.request("stats reset");
    std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
    const json idle = client.request("stats");

    std::vector<Run> runs;
    for (int r = 0; r < repeat && status == 0; ++r) {
      std::vector<std::string> order = modes;
      if (r % 2 == 1) std::reverse(order.begin(), order.end());
      for (const std::string& mode : order) {
        const double cached = evict(model);
        (void)client.request("stats reset");
        const std::string how = mode == "async" ? "strategy=" + strategy : "strategy=mmap";
        json load =
            client.request(fmt::format("load bench \"{}\" mode={} {} sink={}", model, mode, how, sink));
        const json stats = client.request("stats");
        (void)client.request("unload bench");
        if (!load.value("ok", false)) {
          (void)std::fprintf(stderr, "service-bench: %s load failed: %s\n", mode.c_str(),
                             load.value("error", std::string("?")).c_str());
          status = 1;
          break;
        }
        const json timer = stats.value("timer", json::object());
        fmt::print(
            stderr,
            "  run {} {:<8} {:6.2f} s {:5.2f} GB/s  lateness p50 {:6} us  p99 {:8} us  max {:8} us at {:.3f} "
            "s{}\n",
            r + 1, mode, load.value("wall_s", 0.0), load.value("gb_per_s", 0.0), timer.value("p50_us", 0ULL),
            timer.value("p99_us", 0ULL), timer.value("max_us", 0ULL), timer.value("max_at_s", 0.0),
            cached > 0.01 ? fmt::format("  ({:.0f}% still cached before the load)", cached * 100) : "");
        runs.push_back(Run{mode, r, std::move(load), timer});
      }
    }
    // Cancel latency: from the cancel request until the cancelled load has answered (its reads
    // and copies waited out, its destinations freed, its pages released).
    std::vector<double> cancel_s;
    Client canceller(io);
    if (status == 0 && cancel_after_s > 0 && canceller.connect(socket_path, service, error)) {
      for (int r = 0; r < repeat && status == 0; ++r) {
        (void)evict(model);
        client.send(
            fmt::format("load cancelled \"{}\" mode=async strategy={} sink={}", model, strategy, sink));
        std::this_thread::sleep_for(std::chrono::duration<double>(cancel_after_s));
        const auto asked = std::chrono::steady_clock::now();
        const json cancel = canceller.request("cancel cancelled");
        const json load = client.receive();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
        if (cancel.value("ok", false) && load.value("kind", "") == "cancelled") {
          cancel_s.push_back(seconds);
          fmt::print(stderr, "  cancel {}: answered {:.1f} ms after the cancel request\n", r + 1,
                     seconds * 1e3);
        } else {
          fmt::print(stderr,
                     "  cancel {}: the load finished first ({}); use a larger model or --cancel-after-s\n",
                     r + 1, load.value("error", std::string("ok")));
          (void)client.request("unload cancelled");
        }
      }
    }
    (void)client.request("shutdown");
    if (service.wait() != 0) status = 1;
    if (status != 0) return status;

    const auto idle_timer = idle.value("timer", json::object());
    (void)std::printf("%-9s %-15s %-22s %-22s %-22s %-26s\n", "mode", "strategy", "load s", "p50 lateness us",
                      "p99 lateness us", "max lateness us");
    (void)std::printf("%-9s %-15s %-22s %-22lld %-22lld %-26lld\n", "idle", "-", "-",
                      idle_timer.value("p50_us", 0LL), idle_timer.value("p99_us", 0LL),
                      idle_timer.value("max_us", 0LL));
    json summary = json::object();
    for (const std::string& mode : modes) {
      const auto wall = column(runs, mode, "load", "wall_s");
      const auto p50 = column(runs, mode, "timer", "p50_us");
      const auto p99 = column(runs, mode, "timer", "p99_us");
      const auto max = column(runs, mode, "timer", "max_us");
      std::string ran_as;
      for (const Run& run : runs) {
        if (run.mode == mode) ran_as = run.load.value("strategy", "");
      }
      (void)std::printf("%-9s %-15s %-22s %-22s %-22s %-26s\n", mode.c_str(), ran_as.c_str(),
                        range(wall, 1, 2).c_str(), range(p50, 1, 0).c_str(), range(p99, 1, 0).c_str(),
                        range(max, 1, 0).c_str());
      summary[mode] = {{"strategy", ran_as},
                       {"wall_s_median", median(wall)},
                       {"p50_us_median", median(p50)},
                       {"p99_us_median", median(p99)},
                       {"max_us_median", median(max)},
                       {"max_us_worst", max.empty() ? 0.0 : *std::max_element(max.begin(), max.end())}};
    }
    (void)std::printf("\nmedians of %d cold loads per mode, (min-max); %s, sink %s, file %.2f GiB\n", repeat,
                      model.c_str(), sink.c_str(),
                      double(std::filesystem::file_size(model)) / double(1ULL << 30));
    if (!cancel_s.empty()) {
      (void)std::printf(
          "cancel, %.1f s into an async load: answered after %s ms (target: stopped within 100 ms)\n",
          cancel_after_s, range(cancel_s, 1e3, 1).c_str());
      summary["cancel"] = {{"after_s", cancel_after_s},
                           {"answered_ms_median", median(cancel_s) * 1e3},
                           {"answered_ms_worst", *std::max_element(cancel_s.begin(), cancel_s.end()) * 1e3}};
    }
    if (summary.contains("async")) {
      const double async_p99 = summary["async"]["p99_us_median"];
      (void)std::printf("target p99 < 1000 us with ringload: %s (%.0f us)\n",
                        async_p99 < 1000 ? "met" : "MISSED", async_p99);
    }

    document = {{"model", model},       {"file_bytes", std::filesystem::file_size(model)},
                {"sink", sink},         {"repeat", repeat},
                {"idle", idle_timer},   {"summary", summary},
                {"runs", json::array()}};
    for (const Run& run : runs) {
      document["runs"].push_back(
          {{"mode", run.mode}, {"repeat", run.repeat}, {"load", run.load}, {"timer", run.timer}});
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_template, ignored);
  if (!json_path.empty()) std::ofstream(json_path) << document.dump(2) << "\n";
  return status;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "service-bench: %s\n", e.what());
    return 1;
  }
}
