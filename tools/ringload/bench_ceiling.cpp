#include "bench_ceiling.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#if RINGLOAD_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#include "io/file.hpp"
#include "io/huge_page_memory.hpp"
#include "io/mapping.hpp"
#include "io/page_cache.hpp"
#include "io/safe_copy.hpp"
#include "io/uring.hpp"
#include "pipeline/report.hpp"
#include "pipeline/staging_ring.hpp"

namespace ringload::cli::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double gb_per_s(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0;
}

// The O_DIRECT reader: kDepth reads of kReadBytes in flight, each slot re-armed with the next
// offset as it completes, so the device always has a full queue.
class DirectReader {
 public:
  static constexpr std::uint32_t kDepth = 32;
  static constexpr std::uint64_t kReadBytes = 4ULL << 20;

  DirectReader(int fd, std::uint64_t size, std::string path, StagingRing& buffers, Uring& uring)
      : fd_(fd), size_(size), path_(std::move(path)), buffers_(buffers), uring_(uring) {}

  // Reads the whole file; always waits for every read in flight before returning (the buffers
  // must outlive the kernel's use of them), also on error.
  Result<void> run(const ByteProgress& progress) {
    for (std::uint32_t slot = 0; slot < kDepth && next_offset_ < size_; ++slot) start_slot(slot);
    while (in_flight_ > 0) {
      const int rc = io_uring_submit_and_wait(uring_.get(), 1);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        note(sys_error(-rc, "io_uring_submit_and_wait failed", path_));
        break;  // the ring itself is broken: nothing more will complete
      }
      std::vector<std::pair<std::uint32_t, int>> done;
      io_uring_cqe* cqe = nullptr;
      unsigned head = 0;
      io_uring_for_each_cqe(uring_.get(), head, cqe) {
        done.emplace_back(static_cast<std::uint32_t>(cqe->user_data), cqe->res);
      }
      io_uring_cq_advance(uring_.get(), static_cast<unsigned>(done.size()));
      in_flight_ -= static_cast<std::uint32_t>(done.size());
      for (const auto& [slot, res] : done) complete(slot, res);
      if (progress) progress(finished_bytes_);
    }
    if (error_) return *error_;
    return {};
  }

  // EINVAL from an O_DIRECT read: the file system opened the file but will not do direct reads.
  [[nodiscard]] bool refused() const noexcept { return refused_; }

 private:
  struct Op {
    std::uint64_t offset = 0;    // of the request's first byte
    std::uint64_t done = 0;      // bytes already read into the slot
    std::uint64_t expected = 0;  // bytes the file has from offset (≤ kReadBytes)
  };

  void start_slot(std::uint32_t slot) {
    ops_[slot] = Op{next_offset_, 0, std::min(kReadBytes, size_ - next_offset_)};
    next_offset_ += kReadBytes;
    submit(slot);
  }

  void submit(std::uint32_t slot) {
    if (error_) return;
    const Op& op = ops_[slot];
    io_uring_sqe* sqe = io_uring_get_sqe(uring_.get());
    if (sqe == nullptr) {  // cannot happen with kDepth entries, but never write through null
      note(make_error(ErrorKind::io, "io_uring submission queue full"));
      return;
    }
    std::byte* buffer = buffers_.slot(slot).data() + op.done;
    // The whole remaining request, not just what the file has: O_DIRECT lengths must stay
    // aligned, and the kernel stops at EOF by itself.
    const auto length = static_cast<unsigned>(kReadBytes - op.done);
    const __u64 offset = op.offset + op.done;
    if (uring_.buffers_registered()) {
      io_uring_prep_read_fixed(sqe, fd_, buffer, length, offset, static_cast<int>(slot));
    } else {
      io_uring_prep_read(sqe, fd_, buffer, length, offset);
    }
    io_uring_sqe_set_data64(sqe, slot);
    ++in_flight_;
  }

  void complete(std::uint32_t slot, int res) {
    Op& op = ops_[slot];
    if (res == -EAGAIN || res == -EINTR) return submit(slot);
    if (res < 0) {
      refused_ = refused_ || res == -EINVAL;
      return note(sys_error(-res, "O_DIRECT read failed", path_, op.offset + op.done));
    }
    if (res == 0 && op.done < op.expected) {
      return note(make_error(ErrorKind::truncated, "the file ended early: was it truncated during the bench?",
                             op.offset + op.done));
    }
    op.done += static_cast<std::uint64_t>(res);
    if (op.done < op.expected) return submit(slot);  // a short read is normal: ask for the rest
    finished_bytes_ += op.expected;
    if (next_offset_ < size_ && !error_) start_slot(slot);
  }

  void note(Error e) {
    if (e.path.empty()) e.path = path_;
    if (!error_) error_ = std::move(e);
  }

  int fd_;
  std::uint64_t size_;
  std::string path_;
  StagingRing& buffers_;
  Uring& uring_;
  Op ops_[kDepth];
  std::uint64_t next_offset_ = 0;
  std::uint64_t finished_bytes_ = 0;
  std::uint32_t in_flight_ = 0;
  std::optional<Error> error_;
  bool refused_ = false;
};

Result<void> write_drop_caches() {
  auto fd = RINGLOAD_TRY(UniqueFd::open("/proc/sys/vm/drop_caches", O_WRONLY));
  static constexpr char kPageCacheOnly[] = "1\n";
  return write_all(fd.get(), std::as_bytes(std::span(kPageCacheOnly, 2)), "/proc/sys/vm/drop_caches");
}

}  // namespace

Result<std::optional<double>> odirect_qd32_gb_per_s(const std::filesystem::path& file,
                                                    const ByteProgress& progress) {
  auto opened = UniqueFd::open(file, O_RDONLY | O_DIRECT);
  if (!opened) {
    if (opened.error().os_errno == EINVAL || opened.error().os_errno == EOPNOTSUPP) {
      return std::optional<double>();
    }
    return std::move(opened).error();
  }
  const UniqueFd fd = std::move(opened).value();
  const std::uint64_t size = RINGLOAD_TRY(file_size(fd.get(), file.string()));
  // Declared before the ring, so the ring unregisters from it before it goes.
  auto created = Uring::create(DirectReader::kDepth);
  // No io_uring here (a container's seccomp profile, kernel.io_uring_disabled): no QD32 ceiling
  // either, and the bench goes on with the others (the strategies that need io_uring say so).
  if (!created && (created.error().os_errno == EPERM || created.error().os_errno == ENOSYS)) {
    return std::optional<double>();
  }
  Uring uring = RINGLOAD_TRY(std::move(created));
  const auto buffers = RINGLOAD_TRY(StagingRing::create(DirectReader::kDepth, DirectReader::kReadBytes));
  (void)buffers->register_with(uring);  // unregistered reads are only a little slower: go on

  DirectReader reader(fd.get(), size, file.string(), *buffers, uring);
  const auto start = Clock::now();
  if (auto done = reader.run(progress); !done) {
    if (reader.refused()) return std::optional<double>();
    return std::move(done).error();
  }
  return std::optional<double>(gb_per_s(size, seconds_since(start)));
}

Result<double> mmap_touch_gb_per_s(const std::filesystem::path& file, const ByteProgress& progress) {
  const std::string path = file.string();
  const UniqueFd fd = RINGLOAD_TRY(UniqueFd::open(file, O_RDONLY));
  const std::uint64_t size = RINGLOAD_TRY(file_size(fd.get(), path));
  const Mapping mapping = RINGLOAD_TRY(Mapping::map(fd.get(), size, path));
  const std::span<const std::byte> bytes = mapping.bytes();
  const std::uint64_t page = page_size();
  constexpr std::uint64_t kStepBytes = 64ULL << 20;  // progress granularity
  // volatile: each load must happen, and in order, or there is no readahead to measure.
  const auto* first = reinterpret_cast<const volatile unsigned char*>(bytes.data());
  unsigned sum = 0;
  const auto start = Clock::now();
  for (std::uint64_t step = 0; step < size; step += kStepBytes) {
    const std::uint64_t end = std::min(size, step + kStepBytes);
    // A file truncated under the mapping raises SIGBUS: turn it into an error, not a crash.
    Result<void> touched = guard_mapped_reads(bytes, [&] {
      for (std::uint64_t at = step; at < end; at += page) sum += first[at];
    });
    if (!touched) {
      Error e = std::move(touched).error();
      e.path = path;
      return e;
    }
    if (progress) progress(end);
  }
  const double seconds = seconds_since(start);
  (void)sum;
  return gb_per_s(size, seconds);
}

Result<double> memcpy_gb_per_s(std::uint64_t buffer_bytes, int tries) {
  const auto size = static_cast<std::size_t>(buffer_bytes);
  auto source = std::make_unique_for_overwrite<std::byte[]>(size);
  auto destination = std::make_unique_for_overwrite<std::byte[]>(size);
  // Fault both in first: the first touch of fresh pages is not what a copy costs.
  std::memset(source.get(), 0x5a, size);
  std::memset(destination.get(), 0, size);
  double best_s = std::numeric_limits<double>::infinity();
  for (int i = 0; i < std::max(1, tries); ++i) {
    const auto start = Clock::now();
    std::memcpy(destination.get(), source.get(), size);
    best_s = std::min(best_s, seconds_since(start));
  }
  const volatile std::byte last = destination[size - 1];  // the copy is used
  (void)last;
  return gb_per_s(buffer_bytes, best_s);
}

Result<double> fresh_memcpy_gb_per_s(const std::filesystem::path& file, int tries) {
  const std::string path = file.string();
  const UniqueFd fd = RINGLOAD_TRY(UniqueFd::open(file, O_RDONLY));
  const std::uint64_t size = RINGLOAD_TRY(file_size(fd.get(), path));
  const Mapping mapping = RINGLOAD_TRY(Mapping::map(fd.get(), size, path));
  const std::span<const std::byte> bytes = mapping.bytes();
  double best_s = std::numeric_limits<double>::infinity();
  for (int i = 0; i < std::max(1, tries) + 1; ++i) {  // the first copy also brings the file in: not counted
    // Fresh memory each time, as every host load gets it: its faults and zeroing are the cost.
    HugePageMemory destination = RINGLOAD_TRY(HugePageMemory::allocate(size, "the fresh-memory ceiling"));
    const auto start = Clock::now();
    Result<void> copied =
        guard_mapped_reads(bytes, [&] { std::memcpy(destination.data(), bytes.data(), size); });
    if (!copied) {
      Error e = std::move(copied).error();
      e.path = path;
      return e;
    }
    if (i > 0) best_s = std::min(best_s, seconds_since(start));
  }
  return gb_per_s(size, best_s);
}

Result<double> fresh_fault_cpu_s_per_gb(std::uint64_t bytes, int tries) {
  constexpr std::uint64_t kPage = 4096;
  if (bytes == 0) return 0.0;
  double best_s = std::numeric_limits<double>::infinity();
  for (int i = 0; i < std::max(1, tries); ++i) {
    const HugePageMemory memory = RINGLOAD_TRY(HugePageMemory::allocate(bytes, "the first-touch figure"));
    volatile std::byte* const data = memory.data();
    const double start = process_cpu().total();
    for (std::uint64_t at = 0; at < bytes; at += kPage) data[at] = std::byte{1};
    best_s = std::min(best_s, process_cpu().total() - start);
  }
  return best_s / (static_cast<double>(bytes) / 1e9);
}

std::optional<double> pinned_h2d_gb_per_s(int device) {
#if RINGLOAD_HAVE_CUDA
  constexpr std::size_t kBytes = 256ULL << 20;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || device < 0 || device >= devices) return std::nullopt;
  if (cudaSetDevice(device) != cudaSuccess) return std::nullopt;
  struct Buffers {
    void* host = nullptr;
    void* device = nullptr;
    ~Buffers() {
      if (device != nullptr) (void)cudaFree(device);
      if (host != nullptr) (void)cudaFreeHost(host);
    }
  } b;
  if (cudaHostAlloc(&b.host, kBytes, cudaHostAllocDefault) != cudaSuccess) return std::nullopt;
  if (cudaMalloc(&b.device, kBytes) != cudaSuccess) return std::nullopt;
  std::memset(b.host, 0x5a, kBytes);
  double best_s = std::numeric_limits<double>::infinity();
  for (int i = 0; i < 6; ++i) {  // the first copy pays the context's warm-up: not counted
    const auto start = Clock::now();
    if (cudaMemcpy(b.device, b.host, kBytes, cudaMemcpyHostToDevice) != cudaSuccess) return std::nullopt;
    if (cudaDeviceSynchronize() != cudaSuccess) return std::nullopt;
    if (i > 0) best_s = std::min(best_s, seconds_since(start));
  }
  return gb_per_s(kBytes, best_s);
#else
  (void)device;
  return std::nullopt;
#endif
}

Result<Eviction> evict_file(const std::filesystem::path& file, EvictMethod method) {
  const std::string path = file.string();
  const UniqueFd fd = RINGLOAD_TRY(UniqueFd::open(file, O_RDONLY));
  // Dirty pages cannot be dropped: a freshly generated file must reach the disk first.
  if (::fdatasync(fd.get()) != 0) return sys_error(errno, "fdatasync failed", path);
  Eviction e;
  if (method != EvictMethod::fadvise) {
    if (auto dropped = write_drop_caches(); dropped) {
      e.method = "drop_caches";
    } else if (method == EvictMethod::drop_caches) {
      Error err = std::move(dropped).error();
      err.message += ": --evict drop-caches needs root (or use --evict fadvise)";
      return err;
    } else {
      e.why_fadvise = dropped.error().to_string();
    }
  }
  // Also after drop_caches: it is cheap and exact for this file.
  RINGLOAD_TRY_VOID(drop_file_cache(fd.get(), 0, 0, path));
  if (e.method.empty()) e.method = "fadvise";
  Residency r = RINGLOAD_TRY(file_residency(fd.get(), path));
  if (r.resident_pages > 0) {  // pages under writeback a moment ago may be clean now
    RINGLOAD_TRY_VOID(drop_file_cache(fd.get(), 0, 0, path));
    r = RINGLOAD_TRY(file_residency(fd.get(), path));
  }
  e.resident_pages = r.resident_pages;
  e.total_pages = r.total_pages;
  return e;
}

Result<std::uint64_t> preread_file(const std::filesystem::path& file, const ByteProgress& progress) {
  const std::string path = file.string();
  const UniqueFd fd = RINGLOAD_TRY(UniqueFd::open(file, O_RDONLY));
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);  // a hint: larger readahead
  std::vector<std::byte> buffer(4ULL << 20);
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return sys_error(errno, "read failed", path, total);
    if (got == 0) break;
    total += static_cast<std::uint64_t>(got);
    if (progress) progress(total);
  }
  const Residency r = RINGLOAD_TRY(file_residency(fd.get(), path));
  return r.resident_pages;
}

}  // namespace ringload::cli::bench
