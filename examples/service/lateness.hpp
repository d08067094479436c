// How late a periodic timer fires: the measure of whether an event loop was kept waiting.
//
// LatenessMonitor arms a steady_timer every `period` on the loop it is given, at fixed deadlines
// (start + k × period). When the loop is blocked, the ticks it missed are each recorded with
// their own lateness (a 4 s stall is 4,000 late ticks, from 4 s down to ~0, not one), so the
// percentiles say how long a request arriving at a random moment would have waited.
// LatenessHistogram keeps them in constant memory, so a service can run for days between resets.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace service {

// Log-linear buckets (as HdrHistogram): exact below 1,024 µs, then 64 buckets per power of two,
// so a percentile read back is within 1/64 (1.6 %) of the recorded value. Not thread-safe.
class LatenessHistogram {
 public:
  void record(std::uint64_t microseconds) noexcept;
  void clear() noexcept;
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  // The smallest recorded value v such that `fraction` of the samples are ≤ v (nearest rank,
  // reported as its bucket's lower bound); 0 when empty.
  [[nodiscard]] std::uint64_t percentile(double fraction) const noexcept;

 private:
  static constexpr int kLinearBits = 10;  // values below 1 << 10 get a bucket each
  static constexpr int kSubBits = 6;      // 64 buckets per power of two above that
  static constexpr int kTopBit = 40;      // ~12.7 days in µs; larger values land in the last bucket
  static constexpr std::size_t kBuckets =
      (std::size_t{1} << kLinearBits) + std::size_t(kTopBit - kLinearBits) * (std::size_t{1} << kSubBits);
  [[nodiscard]] static std::size_t bucket_of(std::uint64_t value) noexcept;
  [[nodiscard]] static std::uint64_t lower_bound_of(std::size_t bucket) noexcept;

  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

struct LatenessSummary {
  std::uint64_t period_us = 0;
  std::uint64_t ticks = 0;  // deadlines passed in the window
  std::uint64_t p50_us = 0;
  std::uint64_t p99_us = 0;
  std::uint64_t max_us = 0;
  double max_at_s = 0;  // when the latest tick fired, since the window began
  double window_s = 0;
};

// Owner: the loop it runs on; call every method from there.
class LatenessMonitor {
 public:
  LatenessMonitor(const boost::asio::any_io_executor& executor, std::chrono::microseconds period);
  void start();
  void stop();
  void reset();  // a new window: forget what was recorded
  [[nodiscard]] LatenessSummary summary() const;

 private:
  void arm();
  void on_tick();

  boost::asio::steady_timer timer_;
  std::chrono::microseconds period_;
  std::chrono::steady_clock::time_point next_deadline_;
  std::chrono::steady_clock::time_point window_start_;
  std::chrono::steady_clock::time_point max_at_;
  LatenessHistogram histogram_;
  bool running_ = false;
};

}  // namespace service
