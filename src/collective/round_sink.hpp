// The sink a collective load's rounds load through: each round's Loader sees only the tensors
// that rank reads in that round, while the real sink holds every tensor of the load, prepared
// once. Indices are mapped by name; discard() is held back, because the group still has to agree
// that the load failed before anything is freed (a broadcast may still be writing). Where the
// group cannot write the real sink's destinations (an MPI group and a null or device sink), the
// bytes of the tensors this rank broadcasts are also kept in host `capture` buffers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ringload/sink.hpp"

namespace ringload {

class RoundSink final : public Sink {
 public:
  // `all`: the load's tensors, as the real sink was prepared with.
  RoundSink(Sink& real, std::span<const SinkTensor> all);

  // Bytes written for tensor `full_index` are also copied to `buffer` (size: the tensor's); an
  // empty buffer ends that.
  void capture(std::uint32_t full_index, std::span<std::byte> buffer);

  [[nodiscard]] std::string_view name() const override { return real_.name(); }
  [[nodiscard]] std::optional<int> staging_device() const override { return real_.staging_device(); }
  Result<void> prepare(std::span<const SinkTensor> tensors) override;
  Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) override;
  Result<void> slot_written(std::uint32_t slot) override { return real_.slot_written(slot); }
  Result<bool> slot_idle(std::uint32_t slot) override { return real_.slot_idle(slot); }
  Result<void> wait_slot_idle(std::uint32_t slot) override { return real_.wait_slot_idle(slot); }
  Result<void> finish() override { return real_.finish(); }
  [[nodiscard]] Destination destination(std::uint32_t index) const override;
  void discard() noexcept override {}  // the collective load discards the real sink once the group agrees

 private:
  Sink& real_;
  std::span<const SinkTensor> all_;
  std::unordered_map<std::string_view, std::uint32_t> full_index_;  // name → index in `all`
  std::vector<std::uint32_t> round_to_full_;
  std::unordered_map<std::uint32_t, std::span<std::byte>> captures_;  // full index → buffer
};

}  // namespace ringload
