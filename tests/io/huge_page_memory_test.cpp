// HugePageMemory: 2 MiB-aligned, writable, advised MADV_HUGEPAGE (VmFlags "hg" in smaps), unmapped
// on destruction.
#include "io/huge_page_memory.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace ringload {
namespace {

// The VmFlags line of the mapping that contains `address`, from /proc/self/smaps ("" if none).
std::string vm_flags_of(const void* address) {
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    char dash = 0;
    std::istringstream header(line);
    if (line.find('-') < line.find(' ') && (header >> std::hex >> start >> dash >> end) && dash == '-') {
      inside = target >= start && target < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return {};
}

bool thp_disabled() {
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string text;
  std::getline(mode, text);
  return text.empty() || text.find("[never]") != std::string::npos;
}

TEST(HugePageMemory, IsTwoMiBAlignedWritableAndAdvised) {
  constexpr std::uint64_t kBytes = (6ULL << 20) + 123;
  auto memory = HugePageMemory::allocate(kBytes, "a test buffer");
  ASSERT_TRUE(memory) << memory.error().to_string();
  ASSERT_NE(memory->data(), nullptr);
  EXPECT_EQ(memory->size(), kBytes);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(memory->data()) % (2ULL << 20), 0U);
  std::memset(memory->data(), 0x5a, kBytes);
  EXPECT_EQ(memory->data()[kBytes - 1], std::byte{0x5a});
  if (thp_disabled()) GTEST_SKIP() << "transparent huge pages are disabled on this machine";
  EXPECT_TRUE(memory->huge_pages());
  EXPECT_NE(vm_flags_of(memory->data()).find(" hg"), std::string::npos) << vm_flags_of(memory->data());
}

TEST(HugePageMemory, ZeroBytesIsEmptyWithoutAMapping) {
  auto memory = HugePageMemory::allocate(0, "nothing");
  ASSERT_TRUE(memory);
  EXPECT_EQ(memory->data(), nullptr);
  EXPECT_EQ(memory->size(), 0U);
}

TEST(HugePageMemory, UnmapsOnDestructionAndMoveKeepsOneOwner) {
  void* address = nullptr;
  {
    auto memory = HugePageMemory::allocate(4ULL << 20, "a test buffer");
    ASSERT_TRUE(memory);
    HugePageMemory moved = std::move(memory).value();
    address = moved.data();
    EXPECT_FALSE(vm_flags_of(address).empty());
  }
  EXPECT_TRUE(vm_flags_of(address).empty()) << "still mapped after destruction";
}

TEST(HugePageMemory, AnImpossibleSizeIsOutOfMemoryNamingThePurpose) {
  auto memory = HugePageMemory::allocate(~0ULL - 1, "the host sink's tensors");
  ASSERT_FALSE(memory);
  EXPECT_EQ(memory.error().kind, ErrorKind::out_of_memory);
  EXPECT_NE(memory.error().message.find("the host sink's tensors"), std::string::npos)
      << memory.error().message;
}

}  // namespace
}  // namespace ringload
