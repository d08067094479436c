#include "pipeline/chunk_window.hpp"

namespace ringload {

ChunkWindow::ChunkWindow(std::uint32_t chunks, std::uint32_t slots)
    : chunks_(chunks), in_place_(slots == 0), slot_of_(chunks, kNoSlot), ready_(chunks, false) {
  for (std::uint32_t s = 0; s < slots; ++s) free_slots_.push_back(s);
}

bool ChunkWindow::can_start() const noexcept {
  if (next_start_ >= chunks_) return false;
  // An in-place source does its work in start(): one chunk at a time, so a cancel or the next
  // tensor's readiness never waits behind chunks started ahead.
  if (in_place_) return next_start_ == next_deliver_;
  return !free_slots_.empty();
}

bool ChunkWindow::wants_more() const noexcept {
  if (next_start_ < chunks_) return false;
  return in_place_ ? next_start_ == next_deliver_ : !free_slots_.empty();
}

void ChunkWindow::add_chunks(std::uint32_t count) {
  chunks_ += count;
  slot_of_.resize(chunks_, kNoSlot);
  ready_.resize(chunks_, false);
}

std::uint32_t ChunkWindow::start_next() {
  std::uint32_t slot = kNoSlot;
  if (!in_place_) {
    slot = free_slots_.front();
    free_slots_.pop_front();
  }
  slot_of_[next_start_] = slot;
  return slot_of_[next_start_++];
}

void ChunkWindow::delivered() {
  if (!in_place_) draining_.push_back(Draining{slot_of_[next_deliver_], next_deliver_});
  ++next_deliver_;
}

Result<std::int64_t> ChunkWindow::recycle(Sink& sink, bool wait) {
  std::int64_t last = -1;
  while (!draining_.empty()) {
    const Draining& oldest = draining_.front();
    if (wait) {
      RINGLOAD_TRY_VOID(sink.wait_slot_idle(oldest.slot));
    } else if (!RINGLOAD_TRY(sink.slot_idle(oldest.slot))) {
      break;
    }
    free_slots_.push_back(oldest.slot);
    last = oldest.chunk;
    draining_.pop_front();
  }
  return last;
}

}  // namespace ringload
