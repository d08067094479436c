// The staging ring owns its memory and every registration of it: pinned once per device through
// the pinner (here a recording fake: no GPU needed), never taken for an earlier ring at the same
// address, unpinned only when its memory goes and after every load through it has finished, a
// failed pin a warning; registered with io_uring until it dies; not inherited by fork.
#include "pipeline/staging_ring.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gen/gen.hpp"
#include "io/uring.hpp"
#include "pipeline/testing.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

// Every pin and unpin in order, plus the sink's finish() calls when a log is shared with a sink.
struct CallLog {
  std::vector<std::string> calls;
};

class FakePinner final : public DevicePinner {
 public:
  explicit FakePinner(CallLog& log, bool fail = false, std::optional<int> node = std::nullopt)
      : log_(log), fail_(fail), node_(node) {}

  Result<PinResult> pin(std::span<std::byte> range, int device) override {
    log_.calls.push_back("pin " + std::to_string(device));
    pinned_.push_back(range);
    if (fail_) return make_error(ErrorKind::out_of_memory, "pinned memory limit reached (fake)");
    return PinResult{.read_only = true, .owned = true};
  }
  void unpin(std::span<std::byte> range, int device) noexcept override {
    log_.calls.push_back("unpin " + std::to_string(device));
    unpinned_.push_back(range);
  }
  [[nodiscard]] std::optional<int> numa_node(int /*device*/) const override { return node_; }

  std::vector<std::span<std::byte>> pinned_;
  std::vector<std::span<std::byte>> unpinned_;

 private:
  CallLog& log_;
  bool fail_;
  std::optional<int> node_;
};

std::size_t count(const CallLog& log, const std::string& call) {
  return static_cast<std::size_t>(std::count(log.calls.begin(), log.calls.end(), call));
}

TEST(StagingRingPins, OncePerDeviceAndUnpinnedWhenTheRingGoes) {
  CallLog log;
  FakePinner pinner(log);
  std::span<std::byte> memory;
  {
    auto ring = StagingRing::create(2, 1 << 20);
    ASSERT_TRUE(ring) << ring.error().to_string();
    memory = (*ring)->memory();
    EXPECT_FALSE((*ring)->pinned_for(0));
    ASSERT_TRUE((*ring)->pin_for(0, pinner));
    ASSERT_TRUE((*ring)->pin_for(0, pinner));  // a reused ring: nothing to do
    ASSERT_TRUE((*ring)->pin_for(1, pinner));
    EXPECT_TRUE((*ring)->pinned_for(0));
    EXPECT_TRUE((*ring)->pinned_for(1));
    EXPECT_FALSE((*ring)->pinned_for(2));
    EXPECT_EQ(log.calls, (std::vector<std::string>{"pin 0", "pin 1"}));
  }
  EXPECT_EQ(log.calls, (std::vector<std::string>{"pin 0", "pin 1", "unpin 0", "unpin 1"}));
  ASSERT_EQ(pinner.unpinned_.size(), 2U);
  EXPECT_EQ(pinner.unpinned_[0].data(), memory.data());
  EXPECT_EQ(pinner.unpinned_[0].size(), memory.size());
}

TEST(StagingRingPins, ANewRingIsPinnedAgainEvenAtTheOldAddress) {
  CallLog log;
  FakePinner pinner(log);
  std::byte* first_address = nullptr;
  {
    auto first = StagingRing::create(1, 1 << 20);
    ASSERT_TRUE(first);
    first_address = (*first)->memory().data();
    ASSERT_TRUE((*first)->pin_for(0, pinner));
  }
  auto second = StagingRing::create(1, 1 << 20);
  ASSERT_TRUE(second);
  EXPECT_FALSE((*second)->pinned_for(0)) << "a fresh ring believed itself pinned";
  ASSERT_TRUE((*second)->pin_for(0, pinner));
  EXPECT_EQ(count(log, "pin 0"), 2U);
  EXPECT_EQ(count(log, "unpin 0"), 1U);
  // Whether or not the kernel reused the address, the second ring's pin is its own.
  EXPECT_EQ(pinner.pinned_.back().data(), (*second)->memory().data());
  (void)first_address;
}

TEST(StagingRingPins, AFailedPinIsRememberedNotRetriedAndNeverUnpinned) {
  CallLog log;
  FakePinner pinner(log, /*fail=*/true);
  {
    auto ring = StagingRing::create(1, 1 << 20);
    ASSERT_TRUE(ring);
    auto first = (*ring)->pin_for(0, pinner);
    ASSERT_FALSE(first);
    EXPECT_EQ(first.error().kind, ErrorKind::out_of_memory);
    auto again = (*ring)->pin_for(0, pinner);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().kind, ErrorKind::out_of_memory);
    EXPECT_FALSE((*ring)->pinned_for(0));
  }
  EXPECT_EQ(log.calls, (std::vector<std::string>{"pin 0"}));
}

TEST(StagingRingPlacement, IsFirstTouchedOnTheDevicesNodeAndNotInheritedByFork) {
  auto ring = StagingRing::create(2, 1 << 20, /*numa_node=*/0);
  ASSERT_TRUE(ring) << ring.error().to_string();
  EXPECT_EQ((*ring)->numa_node(), 0) << "node 0 exists on every Linux machine";
  EXPECT_TRUE((*ring)->dont_fork());
  // /proc/self/smaps marks a MADV_DONTFORK range "dc" ("do not copy on fork") in its VmFlags.
  std::ifstream smaps("/proc/self/smaps");
  const auto begin = reinterpret_cast<std::uintptr_t>((*ring)->memory().data());
  std::string line;
  bool inside = false;
  bool found = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0;
    std::uintptr_t hi = 0;
    char dash = 0;
    std::istringstream in(line);
    if (in >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= begin && begin < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      EXPECT_NE(line.find(" dc"), std::string::npos) << line;
      found = true;
    }
  }
  EXPECT_TRUE(found) << "the ring's mapping is not in /proc/self/smaps";
  // And for real: a forked child cannot read it (SIGSEGV), the parent still can.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Our own handler says "faulted" with an exit code (AddressSanitizer would otherwise turn the
    // SIGSEGV into an abort of its own).
    struct sigaction faulted {};
    faulted.sa_handler = [](int) { ::_exit(77); };
    sigemptyset(&faulted.sa_mask);
    ::sigaction(SIGSEGV, &faulted, nullptr);
    volatile std::byte b = (*ring)->memory()[0];
    (void)b;
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 77) << "the child read the ring: status " << status;
}

TEST(StagingRingUring, UnregistersWhenItDiesSoTheNextRingCanRegister) {
  auto uring = Uring::create(8);
  if (!uring) GTEST_SKIP() << "io_uring unavailable: " << uring.error().to_string();
  {
    auto first = StagingRing::create(2, 1 << 20);
    ASSERT_TRUE(first);
    ASSERT_TRUE((*first)->register_with(*uring));
    EXPECT_TRUE((*first)->registered_with(*uring));
  }
  // io_uring allows one buffer table: registering again fails with EBUSY unless the first ring
  // unregistered on its way out.
  auto second = StagingRing::create(2, 1 << 20);
  ASSERT_TRUE(second);
  auto registered = (*second)->register_with(*uring);
  EXPECT_TRUE(registered) << registered.error().to_string();
}

// A sink that says it copies to `device` and logs finish(), so the order of the last finish and
// the unpin can be checked; bytes go to host memory through a HostSink.
class DeviceLikeSink final : public Sink {
 public:
  DeviceLikeSink(int device, CallLog& log) : device_(device), log_(log) {}
  [[nodiscard]] std::string_view name() const override { return "device-like"; }
  [[nodiscard]] std::optional<int> staging_device() const override { return device_; }
  Result<void> prepare(std::span<const SinkTensor> tensors) override { return host_.prepare(tensors); }
  Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) override {
    return host_.write(index, offset, bytes, slot);
  }
  Result<void> finish() override {
    log_.calls.emplace_back("finish");
    return {};
  }
  [[nodiscard]] Destination destination(std::uint32_t index) const override {
    return host_.destination(index);
  }
  const HostSink& host() const { return host_; }

 private:
  int device_;
  CallLog& log_;
  HostSink host_;
};

TEST(StagingRingPins, ALoaderPinsItsRingOnceForManyLoadsAndUnpinsAfterTheLastFinish) {
  test::TempDir dir;
  gen::GenOptions options;
  options.format = Format::gguf;
  options.target_bytes = 1ULL << 20;
  const auto path = dir.file("m.gguf");
  ASSERT_TRUE(gen::generate(path, options));
  const Model model = test::load_model(path);
  CallLog log;
  FakePinner pinner(log, /*fail=*/false, /*node=*/0);
  {
    LoadEngine engine(pinner);
    for (int i = 0; i < 3; ++i) {
      DeviceLikeSink sink(/*device=*/5, log);
      auto report = run_load(engine, model, sink, test::small_ring(Strategy::mmap_pipelined));
      ASSERT_TRUE(report) << report.error().to_string();
      EXPECT_TRUE(report->staging_pinned);
      EXPECT_TRUE(test::holds_model(sink.host(), model));
    }
    EXPECT_EQ(count(log, "pin 5"), 1U) << "one ring, pinned once for the device";
    EXPECT_EQ(count(log, "unpin 5"), 0U) << "unpinned while the loader still holds its ring";
    EXPECT_EQ(engine.current_ring()->numa_node(), 0);
  }
  ASSERT_FALSE(log.calls.empty());
  EXPECT_EQ(log.calls.back(), "unpin 5");
  EXPECT_EQ(log.calls[log.calls.size() - 2], "finish") << "unpinned before the sink had finished";
}

TEST(StagingRingPins, AFailedPinWarnsAndTheLoadGoesOnUnpinned) {
  test::TempDir dir;
  gen::GenOptions options;
  options.format = Format::safetensors;
  options.target_bytes = 1ULL << 20;
  const auto path = dir.file("m.safetensors");
  ASSERT_TRUE(gen::generate(path, options));
  const Model model = test::load_model(path);
  CallLog log;
  FakePinner pinner(log, /*fail=*/true);
  LoadEngine engine(pinner);
  for (int i = 0; i < 2; ++i) {
    DeviceLikeSink sink(/*device=*/0, log);
    auto report = run_load(engine, model, sink, test::small_ring(Strategy::mmap_pipelined));
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_FALSE(report->staging_pinned);
    ASSERT_EQ(report->warnings.size(), 1U);
    EXPECT_NE(report->warnings[0].find("pinned memory limit reached"), std::string::npos)
        << report->warnings[0];
    EXPECT_TRUE(test::holds_model(sink.host(), model));
  }
  EXPECT_EQ(count(log, "pin 0"), 1U) << "a failed pin is not retried on every load";
}

TEST(StagingRingPins, HostSinksNeverPin) {
  test::TempDir dir;
  gen::GenOptions options;
  options.format = Format::safetensors;
  options.target_bytes = 1ULL << 20;
  const auto path = dir.file("m.safetensors");
  ASSERT_TRUE(gen::generate(path, options));
  const Model model = test::load_model(path);
  CallLog log;
  FakePinner pinner(log);
  {
    LoadEngine engine(pinner);
    HostSink sink;
    auto report = run_load(engine, model, sink, test::small_ring(Strategy::mmap_pipelined));
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_FALSE(report->staging_pinned);
  }
  EXPECT_TRUE(log.calls.empty());
}

}  // namespace
}  // namespace ringload
