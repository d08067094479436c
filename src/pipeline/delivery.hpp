// Hands a load's chunks to the sink and says what arrived: each piece written to its tensor's
// destination (SHA-256 on the way when asked), on_tensor_ready in file order once a tensor is
// complete at the sink, progress at most ~20 times a second. Owner: the io thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/sha256.hpp"
#include "pipeline/load_files.hpp"
#include "pipeline/plan.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

class Delivery {
 public:
  using Clock = std::chrono::steady_clock;

  Delivery(const Plan& plan, Sink& sink, const PipelineOptions& options, LoadReport& report,
           Clock::time_point start, const LoadFiles& files);

  // Writes every piece of `chunk` from `bytes` (the chunk's bytes from its file_offset), which
  // live in staging slot `slot` (kNoSlot: memory the source keeps until the load ends).
  Result<void> deliver(const Chunk& chunk, std::span<const std::byte> bytes, std::uint32_t slot);
  // The source put the chunk's pieces at their destinations itself.
  void delivered_by_source(const Chunk& chunk);
  // The chunk was read straight into its place at the sink (file_images.hpp): `bytes` are its
  // bytes there, from its file_offset; only the checksum still reads them.
  Result<void> delivered_in_place(const Chunk& chunk, std::span<const std::byte> bytes);

  // Fires on_tensor_ready for every tensor complete once chunks [0, through] are at the sink
  // (-1: before any chunk), in file order.
  void tensors_ready_through(std::int64_t through);
  // Another file was planned: its tensors whose chunks are already at the sink (empty ones) fire.
  void recheck() { tensors_ready_through(through_); }
  void progress(bool force);

  [[nodiscard]] double now() const;

 private:
  void fire_next();
  Result<void> add_to_digest(const Piece& piece, std::span<const std::byte> bytes);

  const Plan& plan_;
  Sink& sink_;
  const LoadFiles& files_;
  const PipelineOptions& options_;
  LoadReport& report_;
  Clock::time_point start_;
  std::vector<std::optional<Sha256>> digests_;
  std::size_t next_ready_ = 0;
  std::int64_t through_ = -1;
  std::uint64_t bytes_done_ = 0;
  Clock::time_point last_progress_{};
};

}  // namespace ringload
