#include "pipeline/delivery.hpp"

#include <algorithm>

namespace ringload {

Delivery::Delivery(const Plan& plan, Sink& sink, const PipelineOptions& options, LoadReport& report,
                   Clock::time_point start, const LoadFiles& files)
    : plan_(plan),
      sink_(sink),
      files_(files),
      options_(options),
      report_(report),
      start_(start),
      digests_(plan.tensors.size()) {}

Result<void> Delivery::deliver(const Chunk& chunk, std::span<const std::byte> bytes, std::uint32_t slot) {
  for (const Piece& p : chunk.pieces) {
    const auto piece = bytes.subspan(p.chunk_offset, p.length);
    RINGLOAD_TRY_VOID(add_to_digest(p, piece));
    RINGLOAD_TRY_VOID(sink_.write(p.tensor, p.tensor_offset, piece, slot));
    bytes_done_ += p.length;
  }
  return sink_.slot_written(slot);
}

void Delivery::delivered_by_source(const Chunk& chunk) {
  for (const Piece& p : chunk.pieces) bytes_done_ += p.length;
}

Result<void> Delivery::delivered_in_place(const Chunk& chunk, std::span<const std::byte> bytes) {
  for (const Piece& p : chunk.pieces) {
    RINGLOAD_TRY_VOID(add_to_digest(p, bytes.subspan(p.chunk_offset, p.length)));
    bytes_done_ += p.length;
  }
  return {};
}

Result<void> Delivery::add_to_digest(const Piece& piece, std::span<const std::byte> bytes) {
  if (!options_.checksum_sha256) return {};
  auto& digest = digests_[piece.tensor];
  if (!digest) digest = RINGLOAD_TRY(Sha256::create());
  digest->update(bytes);
  return {};
}

void Delivery::tensors_ready_through(std::int64_t through) {
  through_ = std::max(through_, through);
  through = through_;
  while (next_ready_ < plan_.tensors.size() && plan_.last_chunk[next_ready_] <= through) fire_next();
}

void Delivery::progress(bool force) {
  if (!options_.on_progress) return;
  const auto now = Clock::now();
  if (!force && now - last_progress_ < std::chrono::milliseconds(50)) return;
  last_progress_ = now;
  options_.on_progress(LoadProgress{bytes_done_, plan_.bytes, static_cast<std::uint32_t>(next_ready_),
                                    static_cast<std::uint32_t>(plan_.tensors.size()), this->now()});
}

double Delivery::now() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void Delivery::fire_next() {
  const SinkTensor& t = plan_.tensors[next_ready_];
  if (report_.time_to_first_tensor_s < 0) report_.time_to_first_tensor_s = now();
  TensorDigest d{t.info->name, t.file_offset, t.size, {}, files_.path(t.info->file)};
  if (options_.checksum_sha256) {
    auto& digest = digests_[next_ready_];
    if (!digest) {
      if (auto fresh = Sha256::create()) digest = std::move(fresh).value();
    }
    if (digest) d.sha256 = digest->finish_hex();
    digest.reset();
  }
  report_.digests.push_back(std::move(d));
  if (options_.on_tensor_ready) options_.on_tensor_ready(*t.info, sink_.destination(t.index));
  ++next_ready_;
  progress(false);
}

}  // namespace ringload
