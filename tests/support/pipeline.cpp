#include "support/pipeline.hpp"

#include <algorithm>
#include <cstring>

#include "io/uring.hpp"

namespace ringload::test {

PipelineOptions small_ring(Strategy strategy) {
  PipelineOptions o;
  o.strategy = strategy;
  o.slot_count = kSlots;
  o.slot_size = kSlotBytes;
  o.read_size = 64 * 1024;
  o.queue_depth = 8;
  return o;
}

bool needs_uring(Strategy s) {
  return s == Strategy::uring || s == Strategy::uring_direct || s == Strategy::uring_dontcache;
}

bool is_baseline(Strategy s) { return s == Strategy::read || s == Strategy::mmap; }

bool environment_refuses(Strategy s, const Error& e) {
  if (s == Strategy::uring_dontcache && e.kind == ErrorKind::unsupported_feature) return true;
  return needs_uring(s) && !Uring::create(8);
}

std::string strategy_label(Strategy s) {
  std::string name(to_string(s));
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

Model load_model(const std::filesystem::path& path) {
  auto model = Model::load(path);
  EXPECT_TRUE(model) << model.error().to_string();
  return std::move(model).value();
}

::testing::AssertionResult holds_model(const HostSink& sink, const Model& model) {
  const auto tensors = model.tensors();
  if (sink.tensor_count() != tensors.size()) {
    return ::testing::AssertionFailure() << sink.tensor_count() << " tensors, expected " << tensors.size();
  }
  for (std::uint32_t i = 0; i < tensors.size(); ++i) {
    const auto want = model.tensor_bytes(tensors[i].name);
    const auto got = sink.bytes(i);
    if (!want || got.size() != want->size() ||
        (!got.empty() && std::memcmp(got.data(), want->data(), got.size()) != 0)) {
      return ::testing::AssertionFailure() << "tensor " << tensors[i].name << " differs";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace ringload::test
