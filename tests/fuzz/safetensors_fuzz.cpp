// libFuzzer target for the safetensors parser (seed corpus: ../shared/fixtures files of that format).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ringload::fuzz::check_model(data, size);
  return 0;
}
