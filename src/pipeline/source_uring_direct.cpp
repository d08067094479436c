// uring-direct: O_DIRECT io_uring reads into the slots. No page cache at all; chunks start and
// end on the file system's O_DIRECT offset alignment (statx STATX_DIOALIGN), never a guess.
#include <fcntl.h>

#include <algorithm>

#include <fmt/format.h>

#include "pipeline/engine.hpp"
#include "pipeline/uring_reader.hpp"

namespace ringload {

Result<std::unique_ptr<ChunkSource>> open_uring_direct_source(const SourceContext& context) {
  UringReader* reader = context.uring_reader();
  if (reader == nullptr) return *context.engine.uring_unavailable();
  DirectFile file = RINGLOAD_TRY(
      open_direct_file(context.model, context.options,
                       "; this file system refuses O_DIRECT: use --strategy auto or uring-dontcache"));
  return std::unique_ptr<ChunkSource>(
      std::make_unique<UringFileSource>(*reader, UringFile{.fd = std::move(file.fd),
                                                           .path = context.model.path(),
                                                           .file_size = context.model.image().size(),
                                                           .dontcache = false,
                                                           .direct = true,
                                                           .alignment = file.alignment}));
}

}  // namespace ringload
