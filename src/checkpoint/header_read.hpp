// One file's header, read for a checkpoint's table and nothing more: no tensor byte is read and
// none is left in the page cache (model/header_prefetch.hpp, as Model::load reads it), and unlike a
// Model nothing stays open: the file is closed and unmapped again on return.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "format/table.hpp"
#include "ringload/error.hpp"
#include "ringload/model.hpp"

namespace ringload {

struct FileHeader {
  std::string path;
  std::uint64_t file_size = 0;
  TensorTable table;  // tensors sorted by offset; format and metadata
};

// Errors are Model::load's for the same file. A compressed APR (one block to decompress) and a
// file system that cannot map files are read whole through Model::load instead.
[[nodiscard]] Result<FileHeader> read_file_header(const std::filesystem::path& path,
                                                  const ModelOptions& options);

}  // namespace ringload
