// uring-dontcache: buffered io_uring reads with RWF_DONTCACHE (Linux ≥ 6.14): the kernel drops
// each page once it is copied out, so nothing is left behind without per-tensor advice.
#include "pipeline/source.hpp"

namespace ringload {

Result<std::unique_ptr<ChunkSource>> open_buffered_uring_reader(const SourceContext& context, bool dontcache);

Result<std::unique_ptr<ChunkSource>> open_uring_dontcache_source(const SourceContext& context) {
  return open_buffered_uring_reader(context, /*dontcache=*/true);
}

}  // namespace ringload
