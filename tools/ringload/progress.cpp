#include "progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "units.hpp"

namespace ringload::cli {

ProgressBar::ProgressBar(std::string label, std::uint64_t total_bytes, bool enabled)
    : label_(std::move(label)),
      total_(total_bytes),
      enabled_(enabled && ::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(std::uint64_t done_bytes) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && done_bytes < total_) return;
  last_draw_ = now;
  draw(done_bytes);
}

void ProgressBar::draw(std::uint64_t done_bytes) {
  constexpr int kWidth = 30;
  const double fraction =
      total_ == 0 ? 1.0 : std::min(1.0, static_cast<double>(done_bytes) / static_cast<double>(total_));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_bytes) / elapsed : 0.0;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kWidth - filled), '.');
  std::string eta;
  if (rate > 0 && done_bytes < total_) {
    eta = " ETA " + format_seconds(static_cast<double>(total_ - done_bytes) / rate);
  }
  fmt::print(stderr, "\r\033[2K{} [{}] {:3.0f}% {} / {} {}{}", label_, bar, fraction * 100.0,
             format_bytes(done_bytes), format_bytes(total_), format_rate(rate), eta);
  (void)std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (enabled_ && drawn_) {
    fmt::print(stderr, "\r\033[2K");
    (void)std::fflush(stderr);
  }
  drawn_ = false;
  enabled_ = false;
}

}  // namespace ringload::cli
