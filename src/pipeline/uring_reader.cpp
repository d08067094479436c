#include "pipeline/uring_reader.hpp"

#include <fcntl.h>
#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include <fmt/format.h>

#include "base/checked.hpp"
#include "io/uring.hpp"
#include "pipeline/staging_ring.hpp"

namespace ringload {
namespace {
// Linux 6.14's uncached buffered I/O; bookworm's headers predate it.
constexpr int kRwfDontcache = 0x00000080;
}  // namespace

UringReader::UringReader(UringReaderOptions options) : options_(std::move(options)) {}

UringReader::~UringReader() { drain(); }

std::uint32_t UringReader::add_file(UringFile file) {
  files_.emplace_back(std::move(file));
  return static_cast<std::uint32_t>(files_.size() - 1);
}

void UringReader::remove_file(std::uint32_t file) noexcept {
  if (file < files_.size()) files_[file].reset();
}

void UringReader::attach(StagingRing& ring) {
  if (attached_) return;
  attached_ = true;
  ring_ = &ring;
  auto registered = ring.register_with(*options_.uring);
  fixed_buffers_ = registered.has_value();
  if (!registered && options_.warn) {
    options_.warn(fmt::format("{}; reading without fixed buffers", registered.error().message));
  }
}

Result<void> UringReader::start(std::uint32_t file, const ChunkRequest& request) {
  const Chunk& c = *request.info;
  if (fixed_buffers_ && request.slot != kNoSlot) {
    if (auto registered = ring_->ensure_registered(request.slot); !registered) {
      fixed_buffers_ = false;  // plain reads work into any memory; the slots stay as they are
      if (options_.warn) {
        options_.warn(fmt::format("{}; reading without fixed buffers", registered.error().message));
      }
    }
  }
  std::uint32_t ops = 0;
  for (std::uint64_t at = 0; at < c.length; at += options_.read_size) {
    const std::uint64_t length = std::min(options_.read_size, c.length - at);
    const std::uint64_t expected = at >= c.valid ? 0 : std::min(length, c.valid - at);
    if (expected == 0) break;  // wholly past EOF: nothing to read
    const std::uint32_t id = new_op();
    ops_[id] = ReadOp{.file = file,
                      .chunk = request.chunk,
                      .slot = request.slot,
                      .buffer = request.buffer.data() + at,
                      .file_offset = c.file_offset + at,
                      .length = length,
                      .expected = expected,
                      .in_use = true};
    RINGLOAD_TRY_VOID(submit(id));
    ++ops;
  }
  if (ops == 0) {
    completed_now_.push_back(ChunkDone{.chunk = request.chunk, .bytes = request.buffer.first(c.valid)});
  } else {
    outstanding_[request.chunk] = ops;
    chunk_bytes_[request.chunk] = request.buffer.first(c.valid);
  }
  return {};
}

Result<void> UringReader::reap(bool wait, std::vector<ChunkDone>& done) {
  done.insert(done.end(), completed_now_.begin(), completed_now_.end());
  completed_now_.clear();
  if (in_flight() == 0) return {};
  const bool block = wait && done.empty() && injected_.empty() && kernel_in_flight_ > 0;
  io_uring* ring = options_.uring->get();
  const int rc = io_uring_submit_and_wait(ring, block ? 1 : 0);
  if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
    return sys_error(-rc, "io_uring_submit_and_wait failed", {});
  }
  // Completions the fault injector made up are handled like real ones.
  std::vector<std::pair<std::uint32_t, int>> results;
  results.swap(injected_);
  io_uring_cqe* cqe = nullptr;
  unsigned head = 0;
  unsigned seen = 0;
  io_uring_for_each_cqe(ring, head, cqe) {
    results.emplace_back(static_cast<std::uint32_t>(cqe->user_data), cqe->res);
    ++seen;
  }
  io_uring_cq_advance(ring, seen);
  kernel_in_flight_ -= seen;
  for (const auto& [id, res] : results) RINGLOAD_TRY_VOID(complete(id, res, done));
  return {};
}

std::uint32_t UringReader::in_flight() const {
  return kernel_in_flight_ + static_cast<std::uint32_t>(injected_.size());
}

void UringReader::drain() noexcept {
  injected_.clear();
  io_uring* ring = options_.uring->get();
  while (kernel_in_flight_ > 0) {
    // A signal (a second Ctrl-C, a profiler's) must not end the wait: the reads may be filling a
    // sink's memory that is freed right after (file_images.hpp), not only the engine's slots.
    const int rc = io_uring_submit_and_wait(ring, 1);
    if (rc == -EINTR || rc == -EAGAIN || rc == -EBUSY) continue;
    if (rc < 0) break;
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(ring, head, cqe) { ++seen; }
    io_uring_cq_advance(ring, seen);
    kernel_in_flight_ -= std::min(kernel_in_flight_, seen);
  }
  kernel_in_flight_ = 0;
  for (auto& op : ops_) op.in_use = false;
  outstanding_.clear();
  chunk_bytes_.clear();
  completed_now_.clear();
}

std::uint32_t UringReader::new_op() {
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

Result<void> UringReader::submit(std::uint32_t id) {
  ReadOp& op = ops_[id];
  const UringFile& file = *files_[op.file];
  std::uint64_t length = op.length;
  if (options_.fault && !op.fault_checked) {
    op.fault_checked = true;
    const std::int64_t fault = options_.fault(op.file_offset, op.expected);
    if (fault < 0) {
      injected_.emplace_back(id, static_cast<int>(fault));
      return {};
    }
    // A short read: ask the kernel for fewer bytes (whole O_DIRECT blocks), as if it stopped early.
    if (fault > 0 && static_cast<std::uint64_t>(fault) < op.expected) {
      length = std::max<std::uint64_t>(align_down(static_cast<std::uint64_t>(fault), file.alignment),
                                       file.alignment);
    }
  }
  io_uring* ring = options_.uring->get();
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) {  // submission queue full: hand what we have to the kernel first
    ++stats_.queue_full_flushes;
    io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
    if (sqe == nullptr) return make_error(ErrorKind::io, "io_uring submission queue stays full");
  }
  const auto offset = static_cast<__u64>(op.file_offset);
  if (fixed_buffers_ && op.slot != kNoSlot) {
    io_uring_prep_read_fixed(sqe, file.fd.get(), op.buffer, static_cast<unsigned>(length), offset,
                             static_cast<int>(op.slot));
  } else {
    io_uring_prep_read(sqe, file.fd.get(), op.buffer, static_cast<unsigned>(length), offset);
  }
  if (file.dontcache) sqe->rw_flags = kRwfDontcache;
  io_uring_sqe_set_data64(sqe, id);
  ++kernel_in_flight_;
  return {};
}

Error UringReader::op_error(const ReadOp& op, int res) const {
  const UringFile& file = *files_[op.file];
  Error e = sys_error(-res, "read failed", file.path, op.file_offset);
  if ((res == -EOPNOTSUPP || res == -EINVAL) && file.dontcache) {
    e.kind = ErrorKind::unsupported_feature;
    e.message = "RWF_DONTCACHE is not supported by this kernel or file system (needs Linux ≥ 6.14)";
  }
  return e;
}

Result<void> UringReader::complete(std::uint32_t id, int res, std::vector<ChunkDone>& done) {
  ReadOp& op = ops_[id];
  if (res == -EAGAIN || res == -EINTR) {
    ++stats_.retried;
    return submit(id);
  }
  if (res < 0) {
    op.in_use = false;
    return op_error(op, res);
  }
  const auto got = static_cast<std::uint64_t>(res);
  if (got < op.expected) return complete_short(op, got, id);
  op.in_use = false;
  if (const auto left = outstanding_.find(op.chunk); left != outstanding_.end() && --left->second == 0) {
    outstanding_.erase(left);
    const auto bytes = chunk_bytes_.extract(op.chunk);
    done.push_back(ChunkDone{.chunk = op.chunk, .bytes = bytes.mapped()});
  }
  return {};
}

Result<void> UringReader::complete_short(ReadOp& op, std::uint64_t got, std::uint32_t id) {
  const UringFile& file = *files_[op.file];
  auto truncated = [&](std::string message, std::uint64_t at) {
    op.in_use = false;
    Error e = make_error(ErrorKind::truncated, std::move(message), at);
    e.path = file.path;
    return e;
  };
  if (got == 0) {
    return truncated(fmt::format("the file ends at byte {} but the load planned {} more bytes there; "
                                 "was it truncated or replaced during the load?",
                                 op.file_offset, op.expected),
                     op.file_offset);
  }
  if (file.direct && got % file.alignment != 0) {
    return truncated("O_DIRECT read stopped mid-block: the file shrank during the load",
                     op.file_offset + got);
  }
  // A short read is normal (style rule 5): ask again for the rest.
  ++stats_.short_reads_requeued;
  op.buffer += got;
  op.file_offset += got;
  op.length -= got;
  op.expected -= got;
  return submit(id);
}

UringFileSource::UringFileSource(UringReader& reader, UringFile file)
    : reader_(reader), alignment_(file.alignment) {
  id_ = reader_.add_file(std::move(file));
}

Result<void> UringFileSource::start(const ChunkRequest& request) {
  RINGLOAD_TRY_VOID(reader_.start(id_, request));
  bytes_read_ += request.info->valid;
  return {};
}

Result<UniqueFd> reopen_model_file(const Model& model, int flags) {
  auto opened = UniqueFd::open(fmt::format("/proc/self/fd/{}", model.fd()), flags);
  if (!opened) {
    Error e = std::move(opened).error();
    e.path = model.path();
    return e;
  }
  return opened;
}

Result<DirectFile> open_direct_file(const Model& model, const PipelineOptions& options,
                                    std::string_view refusal_hint) {
  // statx says nothing on some file systems: 4 KiB, the usual block size, is then tried.
  const auto dio = direct_io_alignment(model.fd());
  const std::uint64_t alignment = std::max<std::uint64_t>(4096, dio ? dio->offset : 0);
  if (options.slot_size % alignment != 0 || options.read_size % alignment != 0) {
    Error e =
        make_error(ErrorKind::invalid_argument,
                   fmt::format("O_DIRECT needs slot and read sizes that are multiples of {}", alignment));
    e.path = model.path();
    return e;
  }
  auto fd = reopen_model_file(model, O_RDONLY | O_DIRECT);
  if (!fd) {
    Error e = std::move(fd).error();
    e.kind = ErrorKind::unsupported_feature;
    e.message += refusal_hint;
    return e;
  }
  return DirectFile{.fd = std::move(fd).value(), .alignment = alignment};
}

}  // namespace ringload
