// The soak's models: copies of the fixtures and generated models and checkpoints of every format,
// each with the CRC-32 of every tensor in load order (computed once, before the soak), so that
// every load of thousands can be checked byte-exact without reading the file again.
//
// The fixtures are copied into the test's own temp dir: the soak measures the page cache its files
// hold, and other processes on the machine read ../shared/fixtures too.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ringload/sink.hpp"

namespace ringload::test {

struct SoakModel {
  std::string name;                          // for messages: "gen-ckpt-hf", "burn-mnist.safetensors"
  std::filesystem::path path;                // what a load is given: a file or a checkpoint directory
  std::vector<std::filesystem::path> files;  // every file a load of it reads
  std::vector<std::uint32_t> tensor_crcs;    // per tensor, load order
  std::uint64_t tensor_bytes = 0;
  // A compressed APR: Model::load decodes it onto the heap when it opens it, reading the file
  // through the page cache, and nothing drops those pages afterwards (every strategy leaves the
  // whole file cached: a ringload bug, reported with issue 14). Its pages are counted apart.
  bool decoded_at_open = false;
};

// Copies the fixtures (when present) into `dir`, generates the rest there, computes the CRCs and
// leaves every file uncached. Fails the test on error.
std::vector<SoakModel> make_soak_models(const std::filesystem::path& dir);

// `sink` holds exactly the tensors of `model`, byte-exact (by CRC-32), in load order.
::testing::AssertionResult holds_soak_model(const HostSink& sink, const SoakModel& model);

// Pages in the page cache now of every file of the models that are (or are not) decoded_at_open.
std::uint64_t cached_pages(const std::vector<SoakModel>& models, bool decoded_at_open = false);
// Of one model's files.
std::uint64_t cached_pages(const SoakModel& model);

}  // namespace ringload::test
