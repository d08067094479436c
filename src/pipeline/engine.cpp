#include "pipeline/engine.hpp"

#include <algorithm>

namespace ringload {

LoadEngine::~LoadEngine() {
  // The ring unregisters from the io_uring and unpins itself while both still exist.
  ring_.reset();
}

Result<StagingRing*> LoadEngine::ring(std::uint32_t slot_count, std::uint64_t slot_size,
                                      std::optional<int> numa_node) {
  if (ring_ && ring_->slot_count() == slot_count && ring_->slot_size() == slot_size) return ring_.get();
  ring_.reset();  // its registrations go with it (see StagingRing)
  ring_ = RINGLOAD_TRY(StagingRing::create(slot_count, slot_size, numa_node, /*prefault=*/!one_shot_));
  ++rings_created_;
  return ring_.get();
}

Uring* LoadEngine::uring(std::uint32_t entries) {
  if (uring_ && uring_thread_ != std::this_thread::get_id()) {
    if (ring_) ring_->forget(*uring_);
    uring_.reset();
  }
  if (uring_) return &*uring_;
  if (uring_unavailable_) return nullptr;
  auto created = Uring::create(std::max<std::uint32_t>(8, entries));
  if (!created) {
    uring_unavailable_ = std::move(created).error();
    return nullptr;
  }
  uring_ = std::move(created).value();
  uring_thread_ = std::this_thread::get_id();
  return &*uring_;
}

}  // namespace ringload
