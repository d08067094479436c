#include "lateness.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace service {

std::size_t LatenessHistogram::bucket_of(std::uint64_t value) noexcept {
  if (value < (std::uint64_t{1} << kLinearBits)) return static_cast<std::size_t>(value);
  const int top = std::bit_width(value) - 1;  // ≥ kLinearBits
  if (top >= kTopBit) return kBuckets - 1;
  const auto sub =
      static_cast<std::size_t>((value >> (top - kSubBits)) & ((std::uint64_t{1} << kSubBits) - 1));
  return (std::size_t{1} << kLinearBits) + std::size_t(top - kLinearBits) * (std::size_t{1} << kSubBits) +
         sub;
}

std::uint64_t LatenessHistogram::lower_bound_of(std::size_t bucket) noexcept {
  constexpr std::size_t linear = std::size_t{1} << kLinearBits;
  if (bucket < linear) return bucket;
  const std::size_t above = bucket - linear;
  const int top = kLinearBits + static_cast<int>(above >> kSubBits);
  const std::uint64_t sub = above & ((std::size_t{1} << kSubBits) - 1);
  return (std::uint64_t{1} << top) | (sub << (top - kSubBits));
}

void LatenessHistogram::record(std::uint64_t microseconds) noexcept {
  ++buckets_[bucket_of(microseconds)];
  ++count_;
  max_ = std::max(max_, microseconds);
}

void LatenessHistogram::clear() noexcept {
  buckets_.fill(0);
  count_ = 0;
  max_ = 0;
}

std::uint64_t LatenessHistogram::percentile(double fraction) const noexcept {
  if (count_ == 0) return 0;
  const double clamped = std::clamp(fraction, 0.0, 1.0);
  // Nearest rank: the ceil(fraction × count)-th smallest sample (at least the first).
  const auto rank =
      std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(clamped * double(count_))));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < kBuckets; ++b) {
    seen += buckets_[b];
    if (seen >= rank) return std::min(lower_bound_of(b), max_);
  }
  return max_;
}

LatenessMonitor::LatenessMonitor(const boost::asio::any_io_executor& executor,
                                 std::chrono::microseconds period)
    : timer_(executor), period_(period) {}

void LatenessMonitor::start() {
  if (running_) return;
  running_ = true;
  reset();
  next_deadline_ = std::chrono::steady_clock::now() + period_;
  arm();
}

void LatenessMonitor::stop() {
  running_ = false;
  timer_.cancel();
}

void LatenessMonitor::reset() {
  histogram_.clear();
  window_start_ = std::chrono::steady_clock::now();
}

void LatenessMonitor::arm() {
  timer_.expires_at(next_deadline_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && running_) on_tick();
  });
}

void LatenessMonitor::on_tick() {
  const auto now = std::chrono::steady_clock::now();
  // Every deadline that has passed counts as a tick, each as late as it is: a loop blocked for
  // many periods missed all of those ticks, not one.
  while (next_deadline_ <= now) {
    const auto late = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - next_deadline_).count());
    // Deadlines from before a reset belong to the previous window.
    if (next_deadline_ >= window_start_) {
      if (late >= histogram_.max()) max_at_ = now;
      histogram_.record(late);
    }
    next_deadline_ += period_;
  }
  arm();
}

LatenessSummary LatenessMonitor::summary() const {
  LatenessSummary s;
  s.period_us = static_cast<std::uint64_t>(period_.count());
  s.ticks = histogram_.count();
  s.p50_us = histogram_.percentile(0.50);
  s.p99_us = histogram_.percentile(0.99);
  s.max_us = histogram_.max();
  s.max_at_s = s.ticks > 0 ? std::chrono::duration<double>(max_at_ - window_start_).count() : 0.0;
  s.window_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start_).count();
  return s;
}

}  // namespace service
