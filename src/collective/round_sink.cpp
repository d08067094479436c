#include "collective/round_sink.hpp"

#include <cstring>

#include <fmt/format.h>

namespace ringload {

RoundSink::RoundSink(Sink& real, std::span<const SinkTensor> all) : real_(real), all_(all) {
  for (const SinkTensor& t : all) {
    if (t.info != nullptr) full_index_.emplace(t.info->name, t.index);
  }
}

void RoundSink::capture(std::uint32_t full_index, std::span<std::byte> buffer) {
  if (buffer.empty()) {
    captures_.erase(full_index);
  } else {
    captures_[full_index] = buffer;
  }
}

Result<void> RoundSink::prepare(std::span<const SinkTensor> tensors) {
  round_to_full_.clear();
  for (const SinkTensor& t : tensors) {
    const auto it = t.info != nullptr ? full_index_.find(t.info->name) : full_index_.end();
    if (it == full_index_.end()) {
      return make_error(ErrorKind::invalid_argument,
                        "a round loads a tensor the collective load did not plan", std::nullopt,
                        t.info != nullptr ? t.info->name : std::string());
    }
    round_to_full_.push_back(it->second);
  }
  return {};
}

Result<void> RoundSink::write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                              std::uint32_t slot) {
  if (index >= round_to_full_.size()) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("tensor index {} is not in this round", index));
  }
  const std::uint32_t full = round_to_full_[index];
  if (auto it = captures_.find(full); it != captures_.end()) {
    if (offset > it->second.size() || bytes.size() > it->second.size() - offset) {
      return make_error(ErrorKind::out_of_bounds, "bytes past the end of the tensor's capture buffer",
                        offset);
    }
    std::memcpy(it->second.data() + offset, bytes.data(), bytes.size());
  }
  return real_.write(full, offset, bytes, slot);
}

Destination RoundSink::destination(std::uint32_t index) const {
  if (index >= round_to_full_.size()) return {};
  return real_.destination(round_to_full_[index]);
}

}  // namespace ringload
