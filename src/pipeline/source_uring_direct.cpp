// uring-direct: O_DIRECT io_uring reads into the slots. No page cache at all; chunks start and
// end on the file system's O_DIRECT offset alignment (statx STATX_DIOALIGN), never a guess.
#include <fcntl.h>

#include <algorithm>

#include <fmt/format.h>

#include "pipeline/engine.hpp"
#include "pipeline/uring_reader.hpp"

namespace ringload {

Result<std::unique_ptr<ChunkSource>> open_uring_direct_source(const SourceContext& context) {
  const PipelineOptions& options = context.options;
  UringReader* reader = context.uring_reader();
  if (reader == nullptr) return *context.engine.uring_unavailable();
  // statx says nothing on some file systems: 4 KiB, the usual block size, is then tried.
  const auto dio = direct_io_alignment(context.model.fd());
  const std::uint64_t alignment = std::max<std::uint64_t>(4096, dio ? dio->offset : 0);
  if (options.slot_size % alignment != 0 || options.read_size % alignment != 0) {
    Error e =
        make_error(ErrorKind::invalid_argument,
                   fmt::format("O_DIRECT needs slot and read sizes that are multiples of {}", alignment));
    e.path = context.model.path();
    return e;
  }
  auto fd = reopen_model_file(context.model, O_RDONLY | O_DIRECT);
  if (!fd) {
    Error e = std::move(fd).error();
    e.kind = ErrorKind::unsupported_feature;
    e.message += "; this file system refuses O_DIRECT: use --strategy auto or uring-dontcache";
    return e;
  }
  return std::unique_ptr<ChunkSource>(
      std::make_unique<UringFileSource>(*reader, UringFile{.fd = std::move(fd).value(),
                                                           .path = context.model.path(),
                                                           .file_size = context.model.image().size(),
                                                           .dontcache = false,
                                                           .direct = true,
                                                           .alignment = alignment}));
}

}  // namespace ringload
