// Loads one model file twice through the installed ringload: once with asio::use_future from a
// plain thread, once with asio::as_tuple(asio::use_awaitable) from a coroutine, and checks that
// every tensor arrived byte for byte (against Model::tensor_bytes, read from the mapping).
//   consumer MODEL_FILE      exit 0: both loads byte-exact; 1: a mismatch or an error; 2: usage
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <future>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <ringload/async.hpp>
#include <ringload/model.hpp>
#include <ringload/sink.hpp>

namespace asio = boost::asio;

namespace {

// Every tensor of `model` is in `sink`, byte for byte (tensors are delivered in file order).
bool byte_exact(const ringload::Model& model, const ringload::HostSink& sink, const char* how) {
  const auto tensors = model.tensors();
  if (sink.tensor_count() != tensors.size()) {
    std::fprintf(stderr, "%s: %zu tensors loaded, the file has %zu\n", how, sink.tensor_count(),
                 tensors.size());
    return false;
  }
  for (std::uint32_t i = 0; i < tensors.size(); ++i) {
    const auto want = model.tensor_bytes(tensors[i].name);
    const auto got = sink.bytes(i);
    if (!want || got.size() != want->size() || std::memcmp(got.data(), want->data(), got.size()) != 0) {
      std::fprintf(stderr, "%s: tensor '%s' differs from the file\n", how, tensors[i].name.c_str());
      return false;
    }
  }
  std::printf("%s: %zu tensors byte-exact\n", how, tensors.size());
  return true;
}

bool load_with_future(const std::filesystem::path& path, const ringload::Model& model) {
  asio::thread_pool pool(1);
  ringload::HostSink sink;
  try {
    std::future<ringload::LoadReport> done =
        ringload::async_load(pool.get_executor(), path, sink, {}, asio::use_future);
    // Throws system_error on failure, which names the kind only: use_future drops the report and
    // its Error (the coroutine below keeps both).
    const ringload::LoadReport report = done.get();
    std::printf("use_future: %.3f s, %s\n", report.wall_s,
                std::string(ringload::to_string(report.strategy)).c_str());
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "use_future: %s\n", e.what());
    return false;
  }
  pool.join();
  return byte_exact(model, sink, "use_future");
}

bool load_with_awaitable(const std::filesystem::path& path, const ringload::Model& model) {
  asio::io_context io;
  ringload::AsyncLoader loader(io.get_executor());
  ringload::HostSink sink;
  bool ok = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const ringload::PipelineOptions options;  // named: see async.hpp on g++ 12 and temporaries
        const auto token = asio::as_tuple(asio::use_awaitable);
        const auto [ec, report] = co_await ringload::async_load(loader, path, sink, options, token);
        if (ec) {
          // The code is the kind; the report's Error names the file, tensor and byte.
          std::fprintf(stderr, "use_awaitable: %s\n",
                       report.error ? report.error->to_string().c_str() : ec.message().c_str());
          co_return;
        }
        std::printf("use_awaitable: %.3f s, %s\n", report.wall_s,
                    std::string(ringload::to_string(report.strategy)).c_str());
        ok = true;
      },
      [](const std::exception_ptr& failure) {
        if (!failure) return;
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "use_awaitable: %s\n", e.what());
        }
      });
  io.run();
  return ok && byte_exact(model, sink, "use_awaitable");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer MODEL_FILE (.safetensors, .gguf or .apr)\n");
    return 2;
  }
  const std::filesystem::path path = argv[1];
  auto model = ringload::Model::load(path);
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().to_string().c_str());
    return 1;
  }
  const bool future_ok = load_with_future(path, *model);
  const bool awaitable_ok = load_with_awaitable(path, *model);
  return future_ok && awaitable_ok ? 0 : 1;
}
