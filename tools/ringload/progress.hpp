// A one-line progress bar on stderr for long work (gen, load, bench). Draws only when stderr is
// a terminal, at most 10 times a second, and erases itself when done, so logs and pipes stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ringload::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, std::uint64_t total_bytes, bool enabled = true);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();

  void update(std::uint64_t done_bytes);
  void update(std::uint64_t done_bytes, std::uint64_t total_bytes) {
    total_ = total_bytes;
    update(done_bytes);
  }
  void finish();

 private:
  void draw(std::uint64_t done_bytes);

  std::string label_;
  std::uint64_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace ringload::cli
