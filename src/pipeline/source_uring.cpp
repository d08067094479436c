// uring, uring-direct, uring-dontcache: io_uring reads of read_size pieces into the slots.
#include <liburing.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "io/uring.hpp"
#include "pipeline/source.hpp"

namespace ringload {
namespace {

// Linux 6.14's uncached buffered I/O; bookworm's headers predate it.
constexpr int kRwfDontcache = 0x00000080;

struct ReadOp {
  std::uint32_t chunk = 0;
  std::uint32_t slot = 0;
  std::byte* buffer = nullptr;
  std::uint64_t file_offset = 0;
  std::uint64_t length = 0;    // bytes asked for (aligned for O_DIRECT)
  std::uint64_t expected = 0;  // bytes that exist in the file within the request
  bool in_use = false;
};

class UringSource final : public ChunkSource {
 public:
  explicit UringSource(UringSourceOptions options) : options_(std::move(options)) {}
  ~UringSource() override { drain(); }

  Result<void> start(const ChunkRequest& request) override {
    const Chunk& c = *request.info;
    std::uint32_t ops = 0;
    for (std::uint64_t at = 0; at < c.length; at += options_.read_size) {
      const std::uint64_t length = std::min(options_.read_size, c.length - at);
      const std::uint64_t expected = at >= c.valid ? 0 : std::min(length, c.valid - at);
      if (expected == 0) break;  // wholly past EOF: nothing to read
      const std::uint32_t id = new_op();
      ops_[id] = ReadOp{request.chunk, request.slot, request.buffer.data() + at, c.file_offset + at, length,
                        expected,      true};
      RINGLOAD_TRY_VOID(submit(id));
      ++ops;
    }
    outstanding_.resize(std::max<std::size_t>(outstanding_.size(), request.chunk + 1), 0);
    outstanding_[request.chunk] = ops;
    if (ops == 0) completed_now_.push_back(request.chunk);
    return {};
  }

  Result<void> reap(bool wait, std::vector<std::uint32_t>& completed) override {
    completed.insert(completed.end(), completed_now_.begin(), completed_now_.end());
    completed_now_.clear();
    if (in_flight() == 0) return {};
    const bool block = wait && completed.empty() && injected_.empty() && kernel_in_flight_ > 0;
    const int rc = io_uring_submit_and_wait(options_.uring->get(), block ? 1 : 0);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      return sys_error(-rc, "io_uring_submit_and_wait failed", options_.path);
    }
    // Completions the fault injector made up are handled like real ones.
    std::vector<std::pair<std::uint32_t, int>> results;
    results.swap(injected_);
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(options_.uring->get(), head, cqe) {
      results.emplace_back(static_cast<std::uint32_t>(cqe->user_data), cqe->res);
      ++seen;
    }
    io_uring_cq_advance(options_.uring->get(), seen);
    kernel_in_flight_ -= seen;
    for (const auto& [id, res] : results) RINGLOAD_TRY_VOID(complete(id, res, completed));
    return {};
  }

  [[nodiscard]] std::uint32_t in_flight() const override {
    return kernel_in_flight_ + static_cast<std::uint32_t>(injected_.size());
  }

  void drain() noexcept override {
    injected_.clear();
    while (kernel_in_flight_ > 0) {
      if (io_uring_submit_and_wait(options_.uring->get(), 1) < 0) break;
      io_uring_cqe* cqe = nullptr;
      unsigned head = 0;
      unsigned seen = 0;
      io_uring_for_each_cqe(options_.uring->get(), head, cqe) { ++seen; }
      io_uring_cq_advance(options_.uring->get(), seen);
      kernel_in_flight_ -= std::min(kernel_in_flight_, seen);
    }
    kernel_in_flight_ = 0;
    for (auto& op : ops_) op.in_use = false;
  }

 private:
  std::uint32_t new_op() {
    for (std::uint32_t i = 0; i < ops_.size(); ++i) {
      const std::uint32_t id = (next_hint_ + i) % static_cast<std::uint32_t>(ops_.size());
      if (!ops_[id].in_use) {
        next_hint_ = id + 1;
        return id;
      }
    }
    ops_.emplace_back();
    return static_cast<std::uint32_t>(ops_.size() - 1);
  }

  Result<void> submit(std::uint32_t id) {
    ReadOp& op = ops_[id];
    if (options_.fault) {
      if (const int rc = options_.fault(op.file_offset, op.expected); rc < 0) {
        injected_.emplace_back(id, rc);
        return {};
      }
    }
    io_uring* ring = options_.uring->get();
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    if (sqe == nullptr) {  // submission queue full: hand what we have to the kernel first
      io_uring_submit(ring);
      sqe = io_uring_get_sqe(ring);
      if (sqe == nullptr) return make_error(ErrorKind::io, "io_uring submission queue stays full");
    }
    const auto length = static_cast<unsigned>(op.length);
    const auto offset = static_cast<__u64>(op.file_offset);
    if (options_.fixed_buffers) {
      io_uring_prep_read_fixed(sqe, options_.fd, op.buffer, length, offset, static_cast<int>(op.slot));
    } else {
      io_uring_prep_read(sqe, options_.fd, op.buffer, length, offset);
    }
    if (options_.dontcache) sqe->rw_flags = kRwfDontcache;
    io_uring_sqe_set_data64(sqe, id);
    ++kernel_in_flight_;
    return {};
  }

  Result<void> complete(std::uint32_t id, int res, std::vector<std::uint32_t>& completed) {
    ReadOp& op = ops_[id];
    if (res == -EAGAIN || res == -EINTR) return submit(id);
    if (res < 0) {
      op.in_use = false;
      Error e = sys_error(-res, "read failed", options_.path, op.file_offset);
      if ((res == -EOPNOTSUPP || res == -EINVAL) && options_.dontcache) {
        e.kind = ErrorKind::unsupported_feature;
        e.message = "RWF_DONTCACHE is not supported by this kernel or file system (needs Linux ≥ 6.14)";
      }
      return e;
    }
    const auto got = static_cast<std::uint64_t>(res);
    if (got < op.expected) {
      if (got == 0) {
        op.in_use = false;
        Error e = make_error(ErrorKind::truncated,
                             fmt::format("the file ends at byte {} but the load planned {} more bytes there; "
                                         "was it truncated or replaced during the load?",
                                         op.file_offset, op.expected),
                             op.file_offset);
        e.path = options_.path;
        return e;
      }
      // A short read is normal (style rule 5): ask again for the rest.
      if (options_.direct && got % options_.direct_alignment != 0) {
        op.in_use = false;
        Error e = make_error(ErrorKind::truncated,
                             "O_DIRECT read stopped mid-block: the file shrank during the load",
                             op.file_offset + got);
        e.path = options_.path;
        return e;
      }
      op.buffer += got;
      op.file_offset += got;
      op.length -= got;
      op.expected -= got;
      return submit(id);
    }
    op.in_use = false;
    if (--outstanding_[op.chunk] == 0) completed.push_back(op.chunk);
    return {};
  }

  UringSourceOptions options_;
  std::vector<ReadOp> ops_;
  std::vector<std::uint32_t> outstanding_;  // per chunk: reads not yet complete
  std::vector<std::uint32_t> completed_now_;
  std::vector<std::pair<std::uint32_t, int>> injected_;
  std::uint32_t kernel_in_flight_ = 0;  // prepared SQEs whose CQE has not been reaped
  std::uint32_t next_hint_ = 0;
};

}  // namespace

std::unique_ptr<ChunkSource> make_uring_source(UringSourceOptions options) {
  return std::make_unique<UringSource>(std::move(options));
}

}  // namespace ringload
