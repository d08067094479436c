// async_load and AsyncLoader: every completion-token style loads byte-exactly; completion runs on
// the handler's executor; terminal and partial cancellation leave nothing behind; concurrent
// loads share one ring in turns; per-tensor readiness; errors name the file.
#include "ringload/async.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "gen/gen.hpp"
#include "io/page_cache.hpp"
#include "support/build_bytes.hpp"
#include "support/fixtures.hpp"
#include "support/pipeline.hpp"
#include "support/process_counts.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using test::holds_model;
using test::load_model;
using test::TempDir;

constexpr auto kPatience = std::chrono::seconds(30);  // a hang fails the test instead of CI

// A small ring and quantum, so even a few-MiB file takes many turns.
AsyncLoaderOptions small_loader() {
  AsyncLoaderOptions o;
  o.slot_count = test::kSlots;
  o.slot_size = test::kSlotBytes;
  o.quantum_bytes = 2 * test::kSlotBytes;
  return o;
}

PipelineOptions small_reads(Strategy strategy = Strategy::mmap_pipelined) {
  PipelineOptions o = test::small_ring(strategy);
  return o;
}

// An on_tensor_ready hook that holds the io thread when tensor `name` arrives (empty: the first
// tensor to arrive) until `release` is ready, and fails the test if that takes kPatience: it pins
// a load mid-way whatever the machine's speed.
std::function<void(const TensorInfo&, const Destination&)> hold_at(std::string name,
                                                                   std::shared_future<void> release) {
  return [name = std::move(name), release = std::move(release), held = false](const TensorInfo& info,
                                                                              const Destination&) mutable {
    if (held || (!name.empty() && info.name != name)) return;
    held = true;
    EXPECT_EQ(release.wait_for(kPatience), std::future_status::ready) << "tensor '" << info.name << "' held";
  };
}

std::filesystem::path generate(const std::filesystem::path& path, std::uint64_t bytes, std::uint32_t tensors,
                               std::uint64_t seed) {
  gen::GenOptions o;
  o.format = Format::safetensors;
  o.target_bytes = bytes;
  o.tensor_count = tensors;
  o.seed = seed;
  auto written = gen::generate(path, o);
  EXPECT_TRUE(written) << written.error().to_string();
  // Dirty pages cannot be dropped: start clean, so residency after a load means what it says.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::fsync(fd), 0);
  ::close(fd);
  return path;
}

class AsyncLoad : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    model_ = generate(dir_->file("m.safetensors"), 4ULL << 20, 40, 7);
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::unique_ptr<TempDir> dir_;
  static std::filesystem::path model_;
};
std::unique_ptr<TempDir> AsyncLoad::dir_;
std::filesystem::path AsyncLoad::model_;

TEST_F(AsyncLoad, CallbackLoadsAFixtureByteExactlyOnTheLoopThread) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "ollama-llama-2-tiny-random.gguf");
  asio::io_context io;
  AsyncLoader loader(io.get_executor());
  HostSink sink;
  bool called = false;
  std::thread::id handler_thread;
  async_load(loader, path, sink, {}, [&](error_code ec, const LoadReport& report) {
    called = true;
    handler_thread = std::this_thread::get_id();
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(report.path, path.string());
    EXPECT_EQ(report.tensors, 12U);
  });
  EXPECT_FALSE(called) << "the initiating call must only queue the load";
  io.run();
  ASSERT_TRUE(called);
  EXPECT_EQ(handler_thread, std::this_thread::get_id()) << "completion must run where io.run() runs";
  EXPECT_TRUE(holds_model(sink, load_model(path)));
}

TEST_F(AsyncLoad, UseFutureLoadsAFixtureByteExactly) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "burn-mnist.safetensors");
  asio::thread_pool pool(1);
  HostSink sink;
  // The executor overload: the process-wide default loader.
  std::future<LoadReport> done = async_load(pool.get_executor(), path, sink, {}, asio::use_future);
  ASSERT_EQ(done.wait_for(kPatience), std::future_status::ready);
  const LoadReport report = done.get();
  EXPECT_EQ(report.tensors, 20U);
  EXPECT_TRUE(holds_model(sink, load_model(path)));
  pool.join();
}

TEST_F(AsyncLoad, UseFutureThrowsTheErrorsKind) {
  asio::thread_pool pool(1);
  AsyncLoader loader(pool.get_executor());
  HostSink sink;
  const auto missing = dir_->file("absent.safetensors");
  auto done = async_load(loader, missing, sink, {}, asio::use_future);
  ASSERT_EQ(done.wait_for(kPatience), std::future_status::ready);
  try {
    done.get();
    ADD_FAILURE() << "a missing file must fail";
  } catch (const boost::system::system_error& e) {
    // The report, and with it the Error naming the file, is the token's to drop: the code remains.
    EXPECT_TRUE(e.code() == ErrorKind::not_found) << e.code().message();
  }
  pool.join();
}

// A tensor whose data runs past the end of the file: the report's Error says which file, which
// tensor, at which byte, and the code compares equal to the same kind.
TEST_F(AsyncLoad, AFailedLoadsReportCarriesTheWholeError) {
  std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                       R"("b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}})";
  header.resize((header.size() + 7) / 8 * 8, ' ');
  const std::uint64_t b_at = 8 + header.size() + 16;
  test::ByteBuilder file;
  file.u64(header.size()).str(header).fill(20, 0x3c);  // b has 4 of its 16 bytes
  const auto cut = test::write_file(dir_->file("cut.safetensors"), file.bytes());
  asio::io_context io;
  AsyncLoader loader(io.get_executor());
  HostSink sink;
  std::optional<error_code> got;
  LoadReport report;
  async_load(loader, cut, sink, {}, [&](error_code ec, LoadReport r) {
    got = ec;
    report = std::move(r);
  });
  io.run();
  ASSERT_TRUE(got);
  EXPECT_TRUE(*got == ErrorKind::truncated) << got->message();
  ASSERT_TRUE(report.error);
  EXPECT_EQ(report.error->kind, ErrorKind::truncated) << report.error->to_string();
  EXPECT_EQ(report.error->path, cut.string());
  EXPECT_EQ(report.path, cut.string());
  EXPECT_EQ(report.error->tensor, "b");
  EXPECT_EQ(report.error->offset, b_at);
  EXPECT_NE(report.error->to_string().find(cut.string()), std::string::npos);
  EXPECT_EQ(sink.tensor_count(), 0U);
}

// The error_code holds the kind only; two failed loads of different files do not share anything,
// however many errors came between (there is no table of error texts to evict them).
TEST_F(AsyncLoad, EachFailedLoadKeepsItsOwnErrorWhateverCameBetween) {
  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  HostSink sink;
  constexpr int kFailures = 5000;  // more than the 4,096 texts the old process-wide store kept
  std::vector<LoadReport> reports(kFailures);
  int completed = 0;
  for (int i = 0; i < kFailures; ++i) {
    async_load(loader, dir_->file(fmt::format("absent-{}.gguf", i)), sink, small_reads(),
               [&, i](error_code ec, LoadReport r) {
                 EXPECT_TRUE(ec == ErrorKind::not_found) << ec.message();
                 reports[i] = std::move(r);
                 ++completed;
               });
  }
  io.run();
  ASSERT_EQ(completed, kFailures);
  for (const int i : {0, 1, kFailures - 1}) {
    ASSERT_TRUE(reports[i].error) << i;
    EXPECT_EQ(reports[i].error->kind, ErrorKind::not_found);
    EXPECT_EQ(reports[i].error->path, dir_->file(fmt::format("absent-{}.gguf", i)).string());
  }
}

TEST_F(AsyncLoad, UseAwaitableLoadsAFixtureByteExactly) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "crabml-tinyllamas-stories-260k-f32-v1.gguf");
  asio::io_context io;
  AsyncLoader loader(io.get_executor());
  HostSink sink;
  std::optional<LoadReport> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // Named, not a temporary: g++ 12 destroys temporaries of a co_await full-expression twice.
        const PipelineOptions options;
        got = co_await async_load(loader, path, sink, options, asio::use_awaitable);
      },
      [](const std::exception_ptr& e) { EXPECT_FALSE(e) << "the coroutine threw"; });
  io.run();
  ASSERT_TRUE(got);
  const Model model = load_model(path);
  EXPECT_EQ(got->tensors, model.tensors().size());
  EXPECT_TRUE(holds_model(sink, model));
}

TEST_F(AsyncLoad, DeferredAsTupleAndRedirectErrorWork) {
  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  HostSink deferred_sink;
  HostSink tuple_sink;
  HostSink redirect_sink;
  const auto missing = dir_->file("absent.gguf");
  bool deferred_done = false;
  bool tuple_done = false;
  bool redirect_done = false;

  auto op = async_load(loader, model_, deferred_sink, small_reads(), asio::deferred);
  EXPECT_EQ(loader.stats().loads_in_flight, 0U) << "deferred: nothing starts until it is launched";
  std::move(op)([&](error_code ec, const LoadReport&) {
    EXPECT_FALSE(ec) << ec.message();
    deferred_done = true;
  });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const PipelineOptions options = small_reads();  // named: see UseAwaitableLoads...
        auto [ec, report] =
            co_await async_load(loader, model_, tuple_sink, options, asio::as_tuple(asio::use_awaitable));
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(report.tensors, 40U);
        tuple_done = true;
        error_code redirected;
        const LoadReport failed = co_await async_load(loader, missing, redirect_sink, options,
                                                      asio::redirect_error(asio::use_awaitable, redirected));
        EXPECT_TRUE(redirected == ErrorKind::not_found) << redirected.message();
        EXPECT_TRUE(failed.error && failed.error->kind == ErrorKind::not_found);
        EXPECT_EQ(failed.error ? failed.error->path : "", missing.string());
        redirect_done = true;
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(deferred_done);
  EXPECT_TRUE(tuple_done);
  EXPECT_TRUE(redirect_done);
  const Model model = load_model(model_);
  EXPECT_TRUE(holds_model(deferred_sink, model));
  EXPECT_TRUE(holds_model(tuple_sink, model));
  EXPECT_EQ(redirect_sink.tensor_count(), 0U);
}

TEST_F(AsyncLoad, CompletesOnTheHandlersAssociatedExecutor) {
  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  auto strand = asio::make_strand(io);
  HostSink sink;
  bool on_strand = false;
  async_load(loader, model_, sink, small_reads(),
             asio::bind_executor(strand, [&](error_code ec, const LoadReport&) {
               EXPECT_FALSE(ec) << ec.message();
               on_strand = strand.running_in_this_thread();
             }));
  io.run();
  EXPECT_TRUE(on_strand);
}

TEST_F(AsyncLoad, CorruptHeaderIsMalformedHeaderWithTheFileNamed) {
  // A 32-byte header that ends inside the object: a file that is long enough, with bad JSON.
  test::ByteBuilder text;
  text.u64(32).str(R"({"w": {"dtype": "F32", "shape": [1])");
  const auto bad = test::write_file(dir_->file("bad.safetensors"), text.bytes());
  asio::io_context io;
  AsyncLoader loader(io.get_executor());
  HostSink sink;
  error_code got;
  std::optional<Error> error;
  async_load(loader, bad, sink, {}, [&](error_code ec, const LoadReport& report) {
    got = ec;
    error = report.error;
  });
  io.run();
  ASSERT_TRUE(got.failed());
  EXPECT_EQ(&got.category(), &error_category());
  EXPECT_TRUE(got == ErrorKind::malformed_header) << got.message();
  ASSERT_TRUE(error);
  EXPECT_TRUE(got == error->kind) << error->to_string();
  EXPECT_EQ(error->path, bad.string());
  // Somewhere in the 32-byte header that ends mid-object.
  ASSERT_TRUE(error->offset) << error->to_string();
  EXPECT_GE(*error->offset, 8U);
  EXPECT_LE(*error->offset, 8U + 32U);
}

// ---------------------------------------------------------------------------------------------
// Cancellation

struct CancelCase {
  asio::cancellation_type type;
  Strategy strategy;
};

class AsyncCancel : public AsyncLoad, public ::testing::WithParamInterface<CancelCase> {};

// The io thread delivers tensor 3, then waits until the signal has been emitted on the loop
// thread: the cancel lands mid-load every time, whatever the machine's speed.
TEST_P(AsyncCancel, MidLoadLeavesNothingBehind) {
  const asio::cancellation_type type = GetParam().type;
  const Strategy strategy = GetParam().strategy;
  const std::size_t fds_before = test::open_fds();
  const std::size_t threads_before = test::user_threads();
  {
    asio::io_context io;
    AsyncLoader loader(io.get_executor(), small_loader());
    asio::cancellation_signal signal;
    HostSink sink;
    std::promise<void> emitted;
    auto emitted_future = emitted.get_future();
    int ready_count = 0;
    PipelineOptions options = small_reads(strategy);
    options.on_tensor_ready = [&](const TensorInfo&, const Destination&) {
      if (++ready_count != 3) return;
      asio::post(io, [&] {
        signal.emit(type);
        emitted.set_value();
      });
      ASSERT_EQ(emitted_future.wait_for(kPatience), std::future_status::ready);
    };
    std::optional<error_code> got;
    std::optional<Error> error;
    async_load(loader, model_, sink, options,
               asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, const LoadReport& report) {
                 got = ec;
                 error = report.error;
               }));
    io.run();
    ASSERT_TRUE(got);
    ASSERT_EQ(error.has_value(), got->failed());
    if (*got && *got != asio::error::operation_aborted && test::environment_refuses(strategy, *error)) {
      GTEST_SKIP() << error->to_string();
    }
    EXPECT_EQ(*got, asio::error::operation_aborted) << (error ? error->to_string() : got->message());
    EXPECT_EQ(error->kind, ErrorKind::cancelled);
    EXPECT_EQ(error->path, model_.string());
    EXPECT_LT(ready_count, 40) << "the load stopped before its end";
    EXPECT_EQ(sink.tensor_count(), 0U) << "destinations discarded";
    EXPECT_EQ(loader.stats().loads_in_flight, 0U);
    // The file's pages were released even though the load stopped half-way.
    const Model model = load_model(model_);
    auto residency = file_residency(model.fd(), model.path());
    ASSERT_TRUE(residency);
    EXPECT_LE(residency->resident_pages, residency->total_pages / 100 + 1);
  }
  EXPECT_EQ(test::open_fds(), fds_before);
  EXPECT_EQ(test::user_threads(), threads_before);
}

INSTANTIATE_TEST_SUITE_P(
    Types, AsyncCancel,
    ::testing::Values(CancelCase{asio::cancellation_type::terminal, Strategy::mmap_pipelined},
                      CancelCase{asio::cancellation_type::partial, Strategy::mmap_pipelined},
                      CancelCase{asio::cancellation_type::terminal, Strategy::uring_direct},
                      CancelCase{asio::cancellation_type::partial, Strategy::uring}),
    [](const auto& info) {
      return std::string(info.param.type == asio::cancellation_type::terminal ? "terminal_" : "partial_") +
             test::strategy_label(info.param.strategy);
    });

TEST_F(AsyncLoad, TotalCancellationAloneIsIgnored) {
  // "total" promises the operation had no effect, which a half-copied model cannot honour.
  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  asio::cancellation_signal signal;
  HostSink sink;
  PipelineOptions options = small_reads();
  bool emitted = false;
  options.on_tensor_ready = [&](const TensorInfo&, const Destination&) {
    if (!std::exchange(emitted, true)) asio::post(io, [&] { signal.emit(asio::cancellation_type::total); });
  };
  error_code got;
  async_load(
      loader, model_, sink, options,
      asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, const LoadReport&) { got = ec; }));
  io.run();
  EXPECT_FALSE(got) << got.message();
  EXPECT_TRUE(holds_model(sink, load_model(model_)));
}

TEST_F(AsyncLoad, DestroyingTheLoaderAbortsLoadsInFlight) {
  asio::io_context io;
  HostSink sink;
  std::optional<error_code> got;
  auto loader = std::make_unique<AsyncLoader>(io.get_executor(), small_loader());
  PipelineOptions options = small_reads();
  std::promise<void> blocked;
  std::promise<void> release;
  auto release_future = release.get_future();
  bool first = true;
  options.on_tensor_ready = [&](const TensorInfo&, const Destination&) {
    if (!std::exchange(first, false)) return;
    blocked.set_value();
    (void)release_future.wait_for(kPatience);
  };
  async_load(*loader, model_, sink, options, [&](error_code ec, const LoadReport&) { got = ec; });
  ASSERT_EQ(blocked.get_future().wait_for(kPatience), std::future_status::ready);
  // The io thread resumes only after the destructor has asked it to stop.
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    release.set_value();
  });
  loader.reset();  // cancels, waits for the completion to be queued, joins the io thread
  releaser.join();
  io.run();
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, asio::error::operation_aborted);
  EXPECT_EQ(sink.tensor_count(), 0U);
}

// ---------------------------------------------------------------------------------------------
// Concurrent loads through one loader

class AsyncConcurrent : public AsyncLoad, public ::testing::WithParamInterface<Strategy> {};

TEST_P(AsyncConcurrent, EightLoadsShareOneRingInTurnsAndAreAllByteExact) {
  const Strategy strategy = GetParam();
  constexpr int kLoads = 8;
  std::vector<std::filesystem::path> files;
  files.reserve(kLoads);
  for (int i = 0; i < kLoads; ++i) {
    files.push_back(generate(dir_->file(fmt::format("c{}.safetensors", i)), 2ULL << 20, 32, 100 + i));
  }
  const auto gate_file = generate(dir_->file("gate.safetensors"), 256 << 10, 4, 99);

  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  std::mutex order_mutex;
  std::vector<int> order;  // which load delivered each tensor, in delivery order

  // A first load holds the io thread until all eight are queued, so they are admitted together
  // and the interleaving below does not depend on how fast this thread submits.
  HostSink gate_sink;
  std::promise<void> all_queued;
  PipelineOptions gate_options = small_reads(strategy);
  gate_options.on_tensor_ready = hold_at({}, all_queued.get_future().share());
  async_load(loader, gate_file, gate_sink, gate_options,
             [](error_code ec, const LoadReport&) { EXPECT_FALSE(ec) << ec.message(); });

  std::vector<std::unique_ptr<HostSink>> sinks;
  std::vector<std::optional<error_code>> results(kLoads);
  std::vector<std::optional<Error>> errors(kLoads);
  for (int i = 0; i < kLoads; ++i) {
    sinks.push_back(std::make_unique<HostSink>());
    PipelineOptions options = small_reads(strategy);
    options.on_tensor_ready = [&, i](const TensorInfo&, const Destination&) {
      const std::lock_guard lock(order_mutex);
      order.push_back(i);
    };
    async_load(loader, files[i], *sinks[i], options, [&, i](error_code ec, const LoadReport& report) {
      results[i] = ec;
      errors[i] = report.error;
    });
  }
  EXPECT_EQ(loader.stats().loads_in_flight, static_cast<std::uint32_t>(kLoads + 1));
  all_queued.set_value();
  io.run();

  for (int i = 0; i < kLoads; ++i) {
    ASSERT_TRUE(results[i]) << "load " << i << " never completed";
    ASSERT_EQ(errors[i].has_value(), results[i]->failed());
    if (*results[i] && test::environment_refuses(strategy, *errors[i]))
      GTEST_SKIP() << errors[i]->to_string();
    ASSERT_FALSE(*results[i]) << errors[i]->to_string();
    EXPECT_TRUE(holds_model(*sinks[i], load_model(files[i]))) << "load " << i;
  }
  const AsyncLoaderStats stats = loader.stats();
  // mmap-pipelined copies a page-cache hit straight into a host sink: no ring at all.
  const bool ring = strategy != Strategy::mmap_pipelined;
  EXPECT_EQ(stats.rings_created, ring ? 1U : 0U) << "one ring, whatever the number of loads";
  EXPECT_EQ(stats.staging_bytes, ring ? test::kRingBytes : 0U);
  EXPECT_EQ(stats.loads_in_flight, 0U);
  EXPECT_EQ(stats.loads_completed, static_cast<std::uint64_t>(kLoads + 1));

  // Fair turns: every load had delivered a tensor before any load delivered its last.
  std::map<int, std::size_t> first;
  std::map<int, std::size_t> last;
  for (std::size_t at = 0; at < order.size(); ++at) {
    first.try_emplace(order[at], at);
    last[order[at]] = at;
  }
  ASSERT_EQ(first.size(), static_cast<std::size_t>(kLoads));
  std::size_t latest_first = 0;
  std::size_t earliest_last = order.size();
  for (int i = 0; i < kLoads; ++i) {
    latest_first = std::max(latest_first, first[i]);
    earliest_last = std::min(earliest_last, last[i]);
  }
  EXPECT_LT(latest_first, earliest_last) << "a load finished before another had started";
}

INSTANTIATE_TEST_SUITE_P(Strategies, AsyncConcurrent,
                         ::testing::Values(Strategy::mmap_pipelined, Strategy::uring, Strategy::uring_direct),
                         [](const auto& info) { return test::strategy_label(info.param); });

// ---------------------------------------------------------------------------------------------
// Unloading through the io thread

TEST_F(AsyncLoad, DiscardFreesTheDestinationsOnTheIoThreadAndCompletesOnTheLoop) {
  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  // Records which thread discard() ran on.
  class WatchedSink final : public Sink {
   public:
    std::string_view name() const override { return "watched"; }
    Result<void> prepare(std::span<const SinkTensor> tensors) override { return host.prepare(tensors); }
    Result<void> write(std::uint32_t i, std::uint64_t offset, std::span<const std::byte> bytes,
                       std::uint32_t slot) override {
      return host.write(i, offset, bytes, slot);
    }
    Result<void> finish() override { return {}; }
    Destination destination(std::uint32_t i) const override { return host.destination(i); }
    void discard() noexcept override {
      // Held until the handler below has looked: else the io thread may free the destinations
      // before the look, and the test would race it. A discard run by async_discard itself, on
      // the calling thread, would wait here in vain: it is let go after a while and recorded.
      ran_before_the_look = gate.wait_for(std::chrono::seconds(10)) != std::future_status::ready;
      discarded_on = std::this_thread::get_id();
      host.discard();
    }
    HostSink host;
    std::thread::id discarded_on;
    std::shared_future<void> gate;
    bool ran_before_the_look = false;
  } sink;
  std::promise<void> looked;
  sink.gate = looked.get_future().share();
  std::optional<error_code> loaded;
  std::optional<error_code> discarded;
  std::thread::id handler_thread;
  async_load(loader, model_, sink, small_reads(), [&](error_code ec, const LoadReport&) {
    loaded = ec;
    EXPECT_GT(sink.host.allocated_bytes(), 0U);
    async_discard(loader, sink, [&](error_code discard_ec) {
      discarded = discard_ec;
      handler_thread = std::this_thread::get_id();
    });
    EXPECT_GT(sink.host.allocated_bytes(), 0U) << "async_discard must only queue the work";
    looked.set_value();
  });
  io.run();
  ASSERT_TRUE(loaded && discarded);
  EXPECT_FALSE(*loaded) << loaded->message();
  EXPECT_FALSE(*discarded) << discarded->message();
  EXPECT_EQ(sink.host.allocated_bytes(), 0U);
  EXPECT_EQ(sink.host.tensor_count(), 0U);
  EXPECT_FALSE(sink.ran_before_the_look) << "discard() ran before async_discard returned";
  EXPECT_NE(sink.discarded_on, std::this_thread::get_id()) << "discard() ran on the loop thread";
  EXPECT_NE(sink.discarded_on, std::thread::id{});
  EXPECT_EQ(handler_thread, std::this_thread::get_id());
}

TEST_F(AsyncLoad, DiscardWhileALoadIntoTheSinkIsInFlightIsRefusedAndFreesNothing) {
  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  HostSink sink;
  PipelineOptions options = small_reads();
  // The load holds the io thread on its first tensor until the discard has been submitted.
  std::promise<void> submitted;
  options.on_tensor_ready = hold_at({}, submitted.get_future().share());
  std::optional<error_code> loaded;
  std::optional<error_code> discarded;
  async_load(loader, model_, sink, options, [&](error_code ec, const LoadReport&) { loaded = ec; });
  async_discard(loader, sink, [&](error_code ec) { discarded = ec; });
  submitted.set_value();
  io.run();
  ASSERT_TRUE(loaded && discarded);
  EXPECT_FALSE(*loaded) << loaded->message();
  EXPECT_TRUE(*discarded == ErrorKind::invalid_argument) << discarded->message();
  EXPECT_TRUE(holds_model(sink, load_model(model_))) << "the refused discard freed nothing";
}

TEST_F(AsyncLoad, TheIoThreadIsNamedAndTakesTheNicenessAsked) {
  asio::io_context io;
  AsyncLoaderOptions options = small_loader();
  options.io_thread_nice = 7;
  AsyncLoader loader(io.get_executor(), options);
  HostSink sink;
  std::optional<int> nice_seen;
  std::string name_seen;
  PipelineOptions load_options = small_reads();
  load_options.on_tensor_ready = [&](const TensorInfo&, const Destination&) {
    if (nice_seen) return;
    errno = 0;
    nice_seen = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    std::array<char, 32> name{};
    ::pthread_getname_np(::pthread_self(), name.data(), name.size());
    name_seen = name.data();
  };
  async_load(loader, model_, sink, load_options, [](error_code ec, const LoadReport&) { EXPECT_FALSE(ec); });
  io.run();
  ASSERT_TRUE(nice_seen);
  EXPECT_EQ(*nice_seen, ::getpriority(PRIO_PROCESS, 0) + 7);
  EXPECT_EQ(name_seen, "ringload-io");
  EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())), ::getpriority(PRIO_PROCESS, 0))
      << "the caller's own niceness must not change";
}

// ---------------------------------------------------------------------------------------------
// Per-tensor readiness

TEST_F(AsyncLoad, ACoroutineGetsTensorKWhileLaterTensorsStillLoad) {
  const Model model = load_model(model_);
  const auto tensors = model.tensors();
  ASSERT_GE(tensors.size(), 10U);
  const std::string wanted = tensors[4].name;
  const std::string held = tensors[8].name;

  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  HostSink sink;
  auto readiness = TensorReadiness::create(io.get_executor());
  PipelineOptions options = small_reads();
  // The io thread may not deliver tensor 8 until the coroutine has received tensor 4: if
  // readiness only fired at the end, this would time out.
  std::promise<void> received;
  options.on_tensor_ready = hold_at(held, received.get_future().share());
  readiness->watch(options);
  bool load_done = false;
  bool saw_tensor_before_load_done = false;
  async_load(loader, model_, sink, options, [&](error_code ec, const LoadReport&) {
    EXPECT_FALSE(ec) << ec.message();
    load_done = true;
  });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        ReadyTensor t = co_await readiness->async_wait(wanted, asio::use_awaitable);
        saw_tensor_before_load_done = !load_done;
        EXPECT_EQ(t.info.name, wanted);
        const auto want = model.tensor_bytes(wanted);
        EXPECT_TRUE(want);
        EXPECT_EQ(t.destination.size, want->size());
        EXPECT_EQ(std::memcmp(t.destination.data, want->data(), want->size()), 0);
        received.set_value();
        // A tensor already delivered completes at once; so does one that never will be.
        ReadyTensor again = co_await readiness->async_wait(tensors[0].name, asio::use_awaitable);
        EXPECT_EQ(again.info.name, tensors[0].name);
        const std::string absent = "no.such.tensor";
        auto [ec, none] = co_await readiness->async_wait(absent, asio::as_tuple(asio::use_awaitable));
        EXPECT_TRUE(ec == ErrorKind::not_found) << ec.message();
        EXPECT_TRUE(none.error && none.error->kind == ErrorKind::not_found);
        EXPECT_EQ(none.error ? none.error->tensor : "", absent);
        EXPECT_FALSE(again.error);
      },
      [](const std::exception_ptr& e) { EXPECT_FALSE(e) << "the coroutine threw"; });
  io.run();
  EXPECT_TRUE(saw_tensor_before_load_done);
  EXPECT_TRUE(load_done);
  EXPECT_TRUE(holds_model(sink, model));
}

TEST_F(AsyncLoad, ACancelledWaitCompletesAtOnceAndTheLoadGoesOn) {
  const Model model = load_model(model_);
  const std::string held = model.tensors()[2].name;
  const std::string last = model.tensors().back().name;
  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  HostSink sink;
  auto readiness = TensorReadiness::create(io.get_executor());
  PipelineOptions options = small_reads();
  // The io thread may not deliver tensor 2 until the cancelled wait has completed: a wait that
  // ignored its cancellation would hold the load here until kPatience ran out.
  std::promise<void> wait_done;
  options.on_tensor_ready = hold_at(held, wait_done.get_future().share());
  readiness->watch(options);
  std::optional<error_code> cancelled_wait;
  std::optional<Error> cancelled_error;
  std::optional<error_code> other_wait;
  std::optional<error_code> loaded;
  asio::cancellation_signal signal;
  readiness->async_wait(last,
                        asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, const ReadyTensor& t) {
                          cancelled_wait = ec;
                          cancelled_error = t.error;
                          wait_done.set_value();
                        }));
  readiness->async_wait(last, [&](error_code ec, const ReadyTensor& t) {
    other_wait = ec;
    EXPECT_EQ(t.info.name, last);
  });
  async_load(loader, model_, sink, options, [&](error_code ec, const LoadReport&) { loaded = ec; });
  asio::post(io, [&] { signal.emit(asio::cancellation_type::terminal); });
  io.run();
  ASSERT_TRUE(cancelled_wait && other_wait && loaded);
  EXPECT_EQ(*cancelled_wait, asio::error::operation_aborted);
  ASSERT_TRUE(cancelled_error);
  EXPECT_EQ(cancelled_error->kind, ErrorKind::cancelled);
  EXPECT_EQ(cancelled_error->tensor, last);
  EXPECT_FALSE(*other_wait) << "cancelling one wait must not touch another on the same tensor";
  EXPECT_FALSE(*loaded) << loaded->message();
  EXPECT_TRUE(holds_model(sink, model));
}

TEST_F(AsyncLoad, WaitersOfACancelledLoadGetOperationAborted) {
  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  HostSink sink;
  auto readiness = TensorReadiness::create(io.get_executor());
  PipelineOptions options = small_reads();
  options.on_tensor_ready = [cancel = options.cancel](const TensorInfo&, const Destination&) {
    cancel.cancel();
  };
  readiness->watch(options);
  const std::string last = load_model(model_).tensors().back().name;
  error_code load_ec;
  error_code wait_ec;
  std::optional<Error> wait_error;
  async_load(loader, model_, sink, options, [&](error_code ec, const LoadReport&) { load_ec = ec; });
  readiness->async_wait(last, [&](error_code ec, const ReadyTensor& t) {
    wait_ec = ec;
    wait_error = t.error;
  });
  io.run();
  EXPECT_EQ(load_ec, asio::error::operation_aborted);
  EXPECT_EQ(wait_ec, asio::error::operation_aborted);
  // The load's own Error, naming its file; a wait that starts after the end gets the same.
  ASSERT_TRUE(wait_error);
  EXPECT_EQ(wait_error->kind, ErrorKind::cancelled);
  EXPECT_EQ(wait_error->path, model_.string());
  std::optional<Error> late_error;
  readiness->async_wait(last, [&](error_code ec, const ReadyTensor& t) {
    EXPECT_EQ(ec, asio::error::operation_aborted);
    late_error = t.error;
  });
  io.restart();
  io.run();
  ASSERT_TRUE(late_error);
  EXPECT_EQ(late_error->path, model_.string());
}

// A load that fails (not cancelled) hands its Error to the tensors still awaited.
TEST_F(AsyncLoad, WaitersOfAFailedLoadGetItsError) {
  asio::io_context io;
  AsyncLoader loader(io.get_executor(), small_loader());
  HostSink sink;
  auto readiness = TensorReadiness::create(io.get_executor());
  PipelineOptions options = small_reads();
  readiness->watch(options);
  const auto missing = dir_->file("never.safetensors");
  error_code wait_ec;
  std::optional<Error> wait_error;
  async_load(loader, missing, sink, options, [](error_code, const LoadReport&) {});
  readiness->async_wait("w", [&](error_code ec, const ReadyTensor& t) {
    wait_ec = ec;
    wait_error = t.error;
  });
  io.run();
  EXPECT_TRUE(wait_ec == ErrorKind::not_found) << wait_ec.message();
  ASSERT_TRUE(wait_error);
  EXPECT_EQ(wait_error->kind, ErrorKind::not_found);
  EXPECT_EQ(wait_error->path, missing.string());
}

// The process-wide loader is made once: a second load after the first has completed and the
// loader has been idle reuses its ring (and io_uring, and thread).
TEST_F(AsyncLoad, TheDefaultLoaderOutlivesIdleTime) {
  AsyncLoader& loader = default_async_loader();
  const AsyncLoaderStats before = loader.stats();
  const std::size_t threads_before = test::user_threads();
  for (int i = 0; i < 2; ++i) {
    asio::io_context io;
    HostSink sink;
    PipelineOptions options;
    options.strategy = Strategy::mmap_pipelined;  // a pipelined strategy into a ring: a checksum keeps
    options.checksum_sha256 = true;               // the copy from going straight to the host sink
    std::optional<error_code> got;
    async_load(io.get_executor(), model_, sink, options, [&](error_code ec, const LoadReport&) { got = ec; });
    io.run();
    ASSERT_TRUE(got);
    ASSERT_FALSE(*got) << got->message();
    EXPECT_TRUE(holds_model(sink, load_model(model_)));
    EXPECT_EQ(loader.stats().loads_in_flight, 0U);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // idle: the old loader was freed here
    EXPECT_EQ(&default_async_loader(), &loader);
  }
  const AsyncLoaderStats after = loader.stats();
  EXPECT_EQ(after.loads_completed, before.loads_completed + 2);
  EXPECT_EQ(after.rings_created, 1U) << "one ring for the process";
  EXPECT_EQ(after.staging_bytes, AsyncLoaderOptions{}.slot_count * AsyncLoaderOptions{}.slot_size);
  EXPECT_EQ(test::user_threads(), threads_before) << "the same io thread served both loads";
}

}  // namespace
}  // namespace ringload
