#include "checkpoint/header_read.hpp"

#include <fcntl.h>

#include <cerrno>

#include "base/utf8.hpp"
#include "format/apr_v2.hpp"
#include "format/detect.hpp"
#include "io/file.hpp"
#include "io/mapping.hpp"
#include "model/header_prefetch.hpp"

namespace ringload {
namespace {

// Error text is UTF-8; paths need not be.
Error located(Error e, const std::string& path) {
  if (e.path.empty()) e.path = escape_invalid_utf8(path);
  return e;
}

// What the file holds, through Model::load: for files whose header cannot be read on its own.
Result<FileHeader> through_model(const std::filesystem::path& path, const ModelOptions& options) {
  const Model model = RINGLOAD_TRY(Model::load(path, options));
  return FileHeader{.path = model.path(),
                    .file_size = model.file_size(),
                    .table = TensorTable{.format = model.format(),
                                         .tensors = {model.tensors().begin(), model.tensors().end()},
                                         .metadata = model.metadata(),
                                         .data_offset = model.data_offset(),
                                         .alignment = model.alignment()}};
}

}  // namespace

Result<FileHeader> read_file_header(const std::filesystem::path& path, const ModelOptions& options) {
  FileHeader header;
  header.path = path.string();
  const UniqueFd fd = RINGLOAD_TRY(UniqueFd::open(path, O_RDONLY));
  header.file_size = RINGLOAD_TRY(file_size(fd.get(), header.path));
  const FileHead head = RINGLOAD_TRY(read_head(fd.get(), header.file_size, header.path));
  auto format = detect_format(head.span());
  if (!format) return located(std::move(format).error(), header.path);
  if (*format == Format::apr && apr_is_compressed(head.span())) return through_model(path, options);
  auto mapping = Mapping::map(fd.get(), header.file_size, header.path);
  if (!mapping && mapping.error().os_errno == ENODEV) return through_model(path, options);
  if (!mapping) return std::move(mapping).error();
  prefetch_header(*mapping, *format, head);
  auto table =
      parse_table(*format, mapping->bytes(), ParseOptions{.verify_checksum = options.verify_checksum});
  if (!table) return located(std::move(table).error(), header.path);
  header.table = std::move(table).value();
  // A name twice in one file is refused with the set's other duplicates (Checkpoint's check).
  return header;
}

}  // namespace ringload
