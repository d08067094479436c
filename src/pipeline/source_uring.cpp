// uring: buffered io_uring reads into the slots; the pages each load leaves in the page cache are
// dropped per tensor (POSIX_FADV_DONTNEED) by the releaser.
#include <fcntl.h>

#include "pipeline/engine.hpp"
#include "pipeline/uring_reader.hpp"

namespace ringload {

// Shared by the buffered io_uring strategies: a fresh buffered descriptor read through the load's
// one reader. Plain buffered reads get the sequential hint (it doubles the readahead window).
// RWF_DONTCACHE reads get no readahead at all (POSIX_FADV_RANDOM: each read fetches exactly its
// range): the reads are already large and concurrent, and a readahead window started by one read
// would fetch again the range of another that completed and was dropped: 6-10 % of a file read
// twice, and pages landing after the final release (16 of 1,025 left cached on xfs in 3 of 25 runs
// of tests/fs).
Result<std::unique_ptr<ChunkSource>> open_buffered_uring_reader(const SourceContext& context,
                                                                bool dontcache) {
  UringReader* reader = context.uring_reader();
  if (reader == nullptr) return *context.engine.uring_unavailable();
  UniqueFd fd = RINGLOAD_TRY(reopen_model_file(context.model, O_RDONLY));
  (void)::posix_fadvise(fd.get(), 0, 0, dontcache ? POSIX_FADV_RANDOM : POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<ChunkSource>(
      std::make_unique<UringFileSource>(*reader, UringFile{.fd = std::move(fd),
                                                           .path = context.model.path(),
                                                           .file_size = context.model.image().size(),
                                                           .dontcache = dontcache,
                                                           .direct = false,
                                                           .alignment = 4096}));
}

Result<std::unique_ptr<ChunkSource>> open_uring_source(const SourceContext& context) {
  return open_buffered_uring_reader(context, /*dontcache=*/false);
}

}  // namespace ringload
