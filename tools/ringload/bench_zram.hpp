// `ringload bench --zram SIZE`: zram swap for the bench's duration, on a zram device nobody uses,
// put back exactly as it was afterwards (swap off, device reset, its compression algorithm
// restored, a device we hot-added removed), whether the bench ends, fails or is interrupted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "io/file.hpp"
#include "ringload/error.hpp"

namespace ringload::cli::bench {

// Why --zram cannot run here (not root; no zram module), or "" when it can. Checked before the
// bench runs anything.
[[nodiscard]] std::string zram_unavailable_reason();

struct ZramSwapOptions {
  std::uint64_t disksize_bytes = 0;
  std::string algorithm = "lz4";  // used where the kernel lists it, else the device's default
  // Asked while waiting for another ringload bench to give zram back; true stops waiting.
  std::function<bool()> interrupted;
  // Tests only: setup fails just before this step ("algorithm", "disksize", "mkswap", "swapon"),
  // as a kernel refusal would, so the rollback of a half-done setup can be checked.
  std::string fail_before_step;
};

// Owner: the bench. Holds /run/lock/ringload-zram.lock for its life, so two benches never set up
// the same device. zram0 is used when it is unconfigured (disksize 0); a zram0 in use (as swap or
// anything else) is never touched: a new device comes from hot_add and is hot_removed at the end.
class ZramSwap {
 public:
  static Result<ZramSwap> create(const ZramSwapOptions& options);

  ZramSwap(ZramSwap&& other) noexcept;
  ZramSwap& operator=(ZramSwap&&) = delete;
  ZramSwap(const ZramSwap&) = delete;
  ZramSwap& operator=(const ZramSwap&) = delete;
  ~ZramSwap();

  // swapoff, reset, algorithm back, hot_remove: each undoes only what setup did. Idempotent;
  // the destructor calls it. swapoff brings swapped pages back into RAM, which takes a moment.
  [[nodiscard]] Result<void> restore();

  [[nodiscard]] const std::filesystem::path& sysfs_dir() const noexcept {
    return sysfs_dir_;
  }                                                                                       // /sys/block/zramN
  [[nodiscard]] const std::filesystem::path& device() const noexcept { return device_; }  // /dev/zramN
  [[nodiscard]] const std::string& algorithm() const noexcept { return algorithm_; }
  [[nodiscard]] std::uint64_t disksize_bytes() const noexcept { return disksize_bytes_; }
  [[nodiscard]] bool hot_added() const noexcept { return hot_added_id_ >= 0; }

 private:
  ZramSwap() = default;
  Result<void> set_up(const ZramSwapOptions& options);

  UniqueFd lock_;
  std::filesystem::path sysfs_dir_;
  std::filesystem::path device_;
  std::string algorithm_;
  std::string original_algorithm_;  // to write back after the reset (a reset keeps ours)
  std::uint64_t disksize_bytes_ = 0;
  int hot_added_id_ = -1;
  bool algorithm_changed_ = false;
  bool disksize_set_ = false;
  bool swap_on_ = false;
};

// The selected algorithm in a comp_algorithm listing ("lzo [lz4] zstd" → "lz4"), "" if none.
[[nodiscard]] std::string selected_algorithm(const std::string& listing);

// Writes the Linux swap signature (what mkswap writes: version 1, the last page, "SWAPSPACE2")
// for a device of `size_bytes` into `page`, which must be one page long.
void write_swap_header(std::span<std::byte> page, std::uint64_t size_bytes);

}  // namespace ringload::cli::bench
