// Where each chunk of a load stands: started (its read in flight), ready (bytes in its slot),
// delivered (handed to the sink, which may still read the slot), and which slots are free. Chunks
// are started and delivered in plan order; a slot returns to the free list once the sink is done
// with it. Owner: the io thread.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "ringload/sink.hpp"

namespace ringload {

class ChunkWindow {
 public:
  // `slots` 0: the source hands bytes out in place (no slot is ever taken; one chunk at a time).
  ChunkWindow(std::uint32_t chunks, std::uint32_t slots);

  [[nodiscard]] bool can_start() const noexcept;
  // Every chunk planned so far is started and another could be: time to plan the next file.
  [[nodiscard]] bool wants_more() const noexcept;
  // The next file's chunks, planned after the ones before.
  void add_chunks(std::uint32_t count);
  // Takes a free slot (kNoSlot in place) for the next chunk; returns it.
  std::uint32_t start_next();
  void completed(std::uint32_t chunk) { ready_[chunk] = true; }
  void delivered();  // the next chunk went to the sink; its slot drains

  [[nodiscard]] std::uint32_t next_start() const noexcept { return next_start_; }
  [[nodiscard]] std::uint32_t next_deliver() const noexcept { return next_deliver_; }
  [[nodiscard]] bool next_ready() const noexcept { return next_deliver_ < chunks_ && ready_[next_deliver_]; }
  [[nodiscard]] bool all_delivered() const noexcept { return next_deliver_ == chunks_; }
  [[nodiscard]] bool all_started_delivered() const noexcept { return next_start_ == next_deliver_; }
  [[nodiscard]] std::uint32_t slot_of(std::uint32_t chunk) const noexcept { return slot_of_[chunk]; }
  [[nodiscard]] bool draining() const noexcept { return !draining_.empty(); }
  [[nodiscard]] std::uint32_t oldest_draining_slot() const noexcept { return draining_.front().slot; }

  // Returns to the free list the slots the sink has finished reading, oldest first (all of them,
  // waiting for each, with `wait`). Returns the last chunk whose slot came back, or -1 for none.
  Result<std::int64_t> recycle(Sink& sink, bool wait);

 private:
  struct Draining {
    std::uint32_t slot;
    std::uint32_t chunk;
  };
  std::uint32_t chunks_;
  bool in_place_;
  std::vector<std::uint32_t> slot_of_;
  std::vector<bool> ready_;
  std::deque<std::uint32_t> free_slots_;
  std::deque<Draining> draining_;
  std::uint32_t next_start_ = 0;
  std::uint32_t next_deliver_ = 0;
};

}  // namespace ringload
