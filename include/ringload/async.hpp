// Loading without blocking an event loop: Boost.Asio completion-token operations over one
// AsyncLoader, which owns a staging ring and an io thread shared by every load in flight.
//
//   ringload::AsyncLoader loader;                      // one per process (or per device) is enough
//   ringload::HostSink sink;
//   auto [ec, report] = co_await ringload::async_load(loader, "model.safetensors", sink, {},
//                                                     asio::as_tuple(asio::use_awaitable));
//
// Any completion token works: callbacks, use_future, use_awaitable, deferred, as_tuple,
// redirect_error. The completion signature is void(boost::system::error_code, LoadReport); the
// handler runs on its associated executor (else the one passed or the loader's default), never
// inline in the initiating call, which only queues the request. On failure the code is a ringload
// code that compares equal to its ErrorKind (`ec == ringload::ErrorKind::truncated`; error_code.hpp)
// and report.error holds the whole Error: file, tensor, byte offset, what was expected. A cancelled
// load completes with boost::asio::error::operation_aborted (report.error: kind cancelled).
// Tokens that turn the code into an exception (use_future, plain use_awaitable) drop the report:
// their system_error says the kind only. To see which file, tensor and byte, take the report too:
// as_tuple, redirect_error or a callback.
//
// Cancellation: bind a cancellation slot (asio::bind_cancellation_slot, or a coroutine's, or an
// awaitable operator) and emit terminal or partial: the load stops between chunks (well within
// 100 ms), waits out its reads and copies, discards the sink's destinations, releases the file's
// pages and completes with operation_aborted. PipelineOptions::cancel works as well.
//
// g++ 12: its coroutines may destroy a temporary of a co_await full-expression twice (a known
// compiler bug, seen here as a crash with `co_await async_load(..., {}, use_awaitable)`). Pass
// named objects, not temporaries, to operations you co_await; clang is not affected.
//
// Scheduling: the io thread runs the loads in flight in turns of AsyncLoaderOptions::quantum_bytes,
// each turn with the whole ring, so a small model queued behind a large one starts at once and
// pinned memory stays one ring however many loads are in flight. The read and mmap baselines are
// the exception: each runs in one turn (they are for comparison, not for services).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/error_code.hpp>

#include "ringload/error_code.hpp"
#include "ringload/pipeline.hpp"
#include "ringload/sink.hpp"

namespace ringload {

struct AsyncLoaderOptions {
  // The one staging ring every load shares (a load's own slot_count/slot_size are ignored).
  std::uint32_t slot_count = 16;
  std::uint64_t slot_size = 8ULL << 20;
  // A load's turn while others wait: at ~4 GB/s, 64 MiB is ~16 ms, so loads interleave finely
  // and a cancel or a new request waits little; a lone load keeps the ring without pausing.
  std::uint64_t quantum_bytes = 64ULL << 20;
  // Niceness added to the io thread (0: as its creator). A positive value lowers the loader's
  // scheduling weight, so a service's own threads preempt it at once when they wake; it costs the
  // load nothing while a core is free.
  int io_thread_nice = 0;
};

struct AsyncLoaderStats {
  std::uint32_t loads_in_flight = 0;  // queued or running
  std::uint64_t loads_completed = 0;  // succeeded, failed or cancelled
  std::uint64_t staging_bytes = 0;    // the ring (0 before the first pipelined load)
  std::uint32_t rings_created = 0;    // stays 1 with the default geometry
  std::uint32_t io_threads = 1;
};

// Owns one staging ring and one io thread. Thread-safe: submit from any thread. Like an Asio I/O
// object it has an executor: handlers with none of their own run there. The destructor cancels
// every load in flight, waits until each has completed (handlers get operation_aborted) and joins
// the io thread.
class AsyncLoader {
 public:
  using executor_type = boost::asio::any_io_executor;
  explicit AsyncLoader(executor_type executor, AsyncLoaderOptions options = {});
  AsyncLoader(const AsyncLoader&) = delete;
  AsyncLoader& operator=(const AsyncLoader&) = delete;
  AsyncLoader(AsyncLoader&&) = delete;
  AsyncLoader& operator=(AsyncLoader&&) = delete;
  ~AsyncLoader();

  [[nodiscard]] AsyncLoaderStats stats() const;
  [[nodiscard]] const AsyncLoaderOptions& options() const noexcept;
  [[nodiscard]] executor_type get_executor() const noexcept;

  // What async_load builds on: opens `path` and loads it into `sink` on the io thread, then calls
  // `done` there. `sink` must outlive the call to `done`. Never blocks.
  using Completion = std::function<void(Result<LoadReport>)>;
  void submit(std::filesystem::path path, Sink& sink, PipelineOptions options, Completion done);
  // What async_discard builds on: sink.discard() on the io thread between turns, then `done` there.
  using DiscardCompletion = std::function<void(Result<void>)>;
  void submit_discard(Sink& sink, DiscardCompletion done);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the io thread, which may outlive a detached loader
  std::thread io_thread_;
};

// The loader async_load(executor, ...) uses: created on first use and kept until the process
// exits, so its ring (and its pins), io_uring and io thread are paid for once, however long the
// process idles between loads. It is a cache of resources, like malloc's arenas, not state one
// caller can change under another: every load brings its own path, sink, options and executor,
// and its default geometry is fixed. Never destroyed, on purpose: a destructor at exit would run
// after the CUDA runtime's teardown (which registers on first use, later, so runs earlier) and
// would join a thread that has nothing left to serve; the kernel reclaims the ring, the io_uring
// and the idle thread. Loads through it must complete before the process exits, as any pending
// asynchronous operation must. It has no executor of its own: async_load(executor, ...) passes
// one with every load, and an async_discard through it needs a handler bound to an executor.
// A service that wants the ring freed while it runs owns an AsyncLoader instead.
[[nodiscard]] AsyncLoader& default_async_loader();

// A tensor as a waiter receives it: on success `info` and `destination`; when the wait fails,
// `error` says why (the load's own Error, or not_found naming the tensor the load ended without).
struct ReadyTensor {
  TensorInfo info;
  Destination destination;
  std::optional<Error> error;  // set exactly when the wait's error_code is
};

// Per-tensor readiness for async users: co_await tensor k while later tensors still load.
//
//   auto ready = ringload::TensorReadiness::create(ex);
//   ready->watch(options);                       // before async_load
//   ringload::async_load(loader, path, sink, options, asio::detached);
//   ReadyTensor t = co_await ready->async_wait("tok_embeddings.weight", asio::use_awaitable);
//
// A wait completes (on the handler's executor) once the tensor is at its destination; at once if
// it already is; with the load's error if the load fails first, operation_aborted if it is
// cancelled, and ErrorKind::not_found if the load ends without that tensor; on failure the
// ReadyTensor's `error` holds the whole Error. One object per load. A wait itself can be cancelled
// (a bound slot, any type: waiting has no side effect, e.g.
// `co_await (ready->async_wait(name, use_awaitable) || timer.async_wait(use_awaitable))`): it then
// completes with operation_aborted and the load goes on.
class TensorReadiness : public std::enable_shared_from_this<TensorReadiness> {
 public:
  using executor_type = boost::asio::any_io_executor;
  using Signature = void(boost::system::error_code, ReadyTensor);

  [[nodiscard]] static std::shared_ptr<TensorReadiness> create(executor_type executor);
  explicit TensorReadiness(executor_type executor) : executor_(std::move(executor)) {}

  // Chains onto options.on_tensor_ready and options.on_finished (keeping what was there).
  void watch(PipelineOptions& options);

  template <class CompletionToken>
  auto async_wait(std::string name, CompletionToken&& token);

  // Without waiting: the tensor if it is ready now.
  [[nodiscard]] std::optional<ReadyTensor> ready(std::string_view name) const;
  [[nodiscard]] executor_type get_executor() const { return executor_; }

  // Internal (async_wait's initiation): `complete` runs once, on whatever thread resolves it.
  // Returns the waiter's id for cancel_waiter, or 0 when it was completed at once.
  using Waiter = std::function<void(boost::system::error_code, ReadyTensor)>;
  std::uint64_t add_waiter(std::string name, Waiter complete);
  // Completes waiter `id` with operation_aborted, if it is still waiting.
  void cancel_waiter(std::uint64_t id);

 private:
  void on_ready(const TensorInfo& info, const Destination& destination);
  void on_finished(const Error* failure);

  executor_type executor_;
  mutable std::mutex mutex_;
  std::map<std::string, ReadyTensor, std::less<>> ready_;
  struct PendingWait {
    std::uint64_t id = 0;
    Waiter complete;
  };
  std::multimap<std::string, PendingWait, std::less<>> waiters_;
  std::uint64_t next_waiter_id_ = 1;
  std::optional<Error> finished_with_;  // set once the load has ended
  bool finished_ = false;
};

namespace detail {

// A pending operation: the handler, work on its executor (so the context stays alive) and its
// cancellation slot. Completed once, on the handler's executor.
template <class Handler, class... Args>
class PendingOp {
 public:
  template <class DefaultExecutor>
  PendingOp(Handler handler, const DefaultExecutor& fallback)
      : handler_(std::move(handler)),
        work_(boost::asio::prefer(boost::asio::get_associated_executor(handler_, fallback),
                                  boost::asio::execution::outstanding_work.tracked)),
        slot_(boost::asio::get_associated_cancellation_slot(handler_)) {}

  [[nodiscard]] auto& cancellation_slot() noexcept { return slot_; }

  // Queues the handler on its executor; never runs it inline. `self` is the owner of this op.
  static void post_completion(std::shared_ptr<PendingOp> self, Args... args) {
    auto work = self->work_;
    boost::asio::post(work, [self = std::move(self), ... args = std::move(args)]() mutable {
      // The slot belongs to the handler's side (its emitter runs there): clear it there.
      if (self->slot_.is_connected()) self->slot_.clear();
      std::move(self->handler_)(std::move(args)...);
    });
  }

 private:
  Handler handler_;
  std::decay_t<decltype(boost::asio::prefer(
      std::declval<boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>>(),
      boost::asio::execution::outstanding_work.tracked))>
      work_;
  boost::asio::associated_cancellation_slot_t<Handler> slot_;
};

// The completion's arguments: the report, or on failure the code of its kind and a report that
// carries the whole Error (the code alone cannot).
inline LoadReport report_of(Result<LoadReport>& result, boost::system::error_code& ec) {
  if (result) return std::move(result).value();
  ec = make_error_code(result.error());
  LoadReport report;
  report.path = result.error().path;
  report.error = std::move(result).error();
  return report;
}

struct AsyncLoadInitiation {
  template <class Handler>
  void operator()(Handler&& handler, AsyncLoader* loader, const boost::asio::any_io_executor& fallback,
                  const std::filesystem::path& path, Sink* sink, const PipelineOptions& options) const {
    using Op = PendingOp<std::decay_t<Handler>, boost::system::error_code, LoadReport>;
    auto op = std::make_shared<Op>(std::forward<Handler>(handler), fallback);
    if (auto& slot = op->cancellation_slot(); slot.is_connected()) {
      slot.assign([cancel = options.cancel](boost::asio::cancellation_type type) {
        using boost::asio::cancellation_type;
        if ((type & (cancellation_type::terminal | cancellation_type::partial)) != cancellation_type::none) {
          cancel.cancel();
        }
      });
    }
    loader->submit(path, *sink, options, [op = std::move(op)](Result<LoadReport> result) mutable {
      boost::system::error_code ec;
      LoadReport report = report_of(result, ec);
      Op::post_completion(std::move(op), ec, std::move(report));
    });
  }
};

struct DiscardInitiation {
  template <class Handler>
  void operator()(Handler&& handler, AsyncLoader* loader, Sink* sink) const {
    using Op = PendingOp<std::decay_t<Handler>, boost::system::error_code>;
    auto op = std::make_shared<Op>(std::forward<Handler>(handler), loader->get_executor());
    loader->submit_discard(*sink, [op = std::move(op)](Result<void> result) mutable {
      const boost::system::error_code ec =
          result ? boost::system::error_code{} : make_error_code(result.error());
      Op::post_completion(std::move(op), ec);
    });
  }
};

struct TensorWaitInitiation {
  template <class Handler>
  void operator()(Handler&& handler, TensorReadiness* readiness, const std::string& name) const {
    using Op = PendingOp<std::decay_t<Handler>, boost::system::error_code, ReadyTensor>;
    auto op = std::make_shared<Op>(std::forward<Handler>(handler), readiness->get_executor());
    auto& slot = op->cancellation_slot();
    const std::uint64_t id =
        readiness->add_waiter(name, [op](boost::system::error_code ec, ReadyTensor tensor) mutable {
          Op::post_completion(std::move(op), ec, std::move(tensor));
        });
    // Assigned after add_waiter: a completion that wins the race clears the slot on the handler's
    // executor, after this, and cancel_waiter of a finished id does nothing.
    if (id != 0 && slot.is_connected()) {
      slot.assign([readiness = readiness->shared_from_this(), id](boost::asio::cancellation_type) {
        readiness->cancel_waiter(id);
      });
    }
  }
};

}  // namespace detail

// Loads `path` into `sink` through `loader`. `sink` and `loader` must outlive the completion.
template <class CompletionToken>
auto async_load(AsyncLoader& loader, std::filesystem::path path, Sink& sink, PipelineOptions options,
                CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, LoadReport)>(
      detail::AsyncLoadInitiation{}, token, &loader, loader.get_executor(), std::move(path), &sink,
      std::move(options));
}

// The same through default_async_loader(); a handler without an associated executor runs on
// `executor`. `sink` must outlive the completion.
template <class Executor, class CompletionToken,
          std::enable_if_t<boost::asio::execution::is_executor<Executor>::value ||
                               boost::asio::is_executor<Executor>::value,
                           int> = 0>
auto async_load(const Executor& executor, std::filesystem::path path, Sink& sink, PipelineOptions options,
                CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, LoadReport)>(
      detail::AsyncLoadInitiation{}, token, &default_async_loader(), boost::asio::any_io_executor(executor),
      std::move(path), &sink, std::move(options));
}

// Unloads: frees `sink`'s destinations (Sink::discard) on the loader's io thread, between the
// turns of the loads in flight. Freeing a model is not free: unmapping 8 GiB of host memory took
// 10-14 ms here, cudaFree of large allocations is similar, and an event loop should spend none of
// it. Completion signature void(boost::system::error_code); its one error is
// ErrorKind::invalid_argument, with nothing freed, while a load into `sink` is queued or running
// (cancel it first): the code alone says all there is, so no Error comes with it. `sink` must
// outlive the completion.
template <class CompletionToken>
auto async_discard(AsyncLoader& loader, Sink& sink, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
      detail::DiscardInitiation{}, token, &loader, &sink);
}

template <class CompletionToken>
auto TensorReadiness::async_wait(std::string name, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, Signature>(detail::TensorWaitInitiation{}, token, this,
                                                                 std::move(name));
}

}  // namespace ringload
