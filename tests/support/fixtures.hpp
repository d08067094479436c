// Real model files live in ../shared/fixtures (never copied into the repo). Tests that need one
// skip with a reason when it is absent.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace ringload::test {

// $RINGLOAD_FIXTURES, else the build-time default (<source>/../shared/fixtures); nullopt if absent.
std::optional<std::filesystem::path> fixtures_dir();

}  // namespace ringload::test

// Puts the path of fixture `name` into `var`, or skips the test naming what is missing.
#define RINGLOAD_FIXTURE_OR_SKIP(var, name)                                           \
  std::filesystem::path var;                                                          \
  do {                                                                                \
    auto ringload_dir_ = ::ringload::test::fixtures_dir();                            \
    if (!ringload_dir_ || !std::filesystem::exists(*ringload_dir_ / (name))) {        \
      GTEST_SKIP() << "fixture " << (name) << " not found (set RINGLOAD_FIXTURES to " \
                   << "shared/fixtures)";                                             \
    }                                                                                 \
    var = *ringload_dir_ / (name);                                                    \
  } while (false)
