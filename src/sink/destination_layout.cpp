#include "sink/destination_layout.hpp"

#include <fmt/format.h>

#include "base/checked.hpp"

namespace ringload {

Result<DestinationLayout> DestinationLayout::make(std::span<const SinkTensor> tensors,
                                                  std::uint64_t alignment, std::string_view sink) {
  DestinationLayout layout;
  layout.sink_ = std::string(sink);
  layout.entries_.resize(tensors.size());
  std::vector<bool> seen(tensors.size(), false);
  std::vector<const SinkTensor*> by_index(tensors.size(), nullptr);
  for (const SinkTensor& t : tensors) {
    if (t.index >= tensors.size() || seen[t.index]) {
      return make_error(
          ErrorKind::invalid_argument,
          fmt::format("{} sink: prepare() got tensor index {}, {} (expected each of 0..{} once: "
                      "the position in the load's tensor list)",
                      sink, t.index, t.index >= tensors.size() ? "out of range" : "repeated",
                      tensors.size() - 1));
    }
    seen[t.index] = true;
    by_index[t.index] = &t;
  }
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < by_index.size(); ++i) {
    const SinkTensor& t = *by_index[i];
    std::string name = t.info != nullptr ? t.info->name : fmt::format("#{}", i);
    const auto start = align_up(total, alignment);
    const auto end = start ? checked_add(*start, t.size) : std::nullopt;
    if (!end) {
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("{} sink: tensor #{} of {} ({} bytes) does not fit one allocation", sink,
                                    i, tensors.size(), t.size),
                        std::nullopt, name);
    }
    layout.entries_[i] = Entry{*start, t.size, std::move(name)};
    total = *end;
  }
  layout.total_ = total;
  return layout;
}

bool DestinationLayout::contains(std::uint32_t index, std::uint64_t offset,
                                 std::uint64_t length) const noexcept {
  return index < entries_.size() && offset <= entries_[index].size && length <= entries_[index].size - offset;
}

Result<void> DestinationLayout::check_write(std::uint32_t index, std::uint64_t offset,
                                            std::uint64_t length) const {
  if (index >= entries_.size()) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("{} sink: write to tensor index {}, but prepare() set up {} tensors", sink_,
                                  index, entries_.size()));
  }
  if (!contains(index, offset, length)) {
    // Never let a bad range through: on a device it would land silently in a neighbour's memory.
    return make_error(ErrorKind::out_of_bounds,
                      fmt::format("{} sink: write of {} bytes at offset {} runs past the end of the {}-byte "
                                  "destination",
                                  sink_, length, offset, entries_[index].size),
                      std::nullopt, entries_[index].name);
  }
  return {};
}

}  // namespace ringload
