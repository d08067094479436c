#include "support/fixtures.hpp"

#include <cstdlib>

#ifndef RINGLOAD_FIXTURES_DIR
#define RINGLOAD_FIXTURES_DIR "../shared/fixtures"
#endif

namespace ringload::test {

std::optional<std::filesystem::path> fixtures_dir() {
  const char* env = std::getenv("RINGLOAD_FIXTURES");
  std::filesystem::path dir = env != nullptr && *env != '\0' ? env : RINGLOAD_FIXTURES_DIR;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return std::nullopt;
  return std::filesystem::canonical(dir, ec);
}

}  // namespace ringload::test
