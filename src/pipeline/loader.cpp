// Loader: one load at a time on the calling thread, through a LoadRun in a single step.
#include <limits>

#include "pipeline/load_run.hpp"
#include "pipeline/testing.hpp"
#include "ringload/memstat.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

Loader::Loader() : impl_(std::make_unique<Impl>()) {}
Loader::Loader(Loader&&) noexcept = default;
Loader& Loader::operator=(Loader&&) noexcept = default;
Loader::~Loader() = default;

Result<LoadReport> Loader::load(const Model& model, Sink& sink, const PipelineOptions& options) {
  LoadRun run(*impl_, model, sink, options);
  auto done = [&]() -> Result<LoadReport> {
    RINGLOAD_TRY_VOID(run.begin());
    RINGLOAD_TRY_VOID(run.step(std::numeric_limits<std::uint64_t>::max(), nullptr));
    return run.finish();
  }();
  if (!done) run.abandon(done.error());
  return done;
}

Result<LoadReport> load_into(const Model& model, Sink& sink, const PipelineOptions& options) {
  auto report = [&] {
    Loader loader;
    auto r = loader.load(model, sink, options);
    // The ring dies with this Loader: a device sink must not keep it pinned.
    auto unpinned = sink.attach_staging({});
    if (r && !unpinned) return Result<LoadReport>(std::move(unpinned).error());
    return r;
  }();
  // A one-shot load frees its ring on return; what stays behind is measured after that (a
  // reused Loader keeps its ring, reported as staging_bytes).
  if (report) {
    if (auto after = process_memory()) report->anon_rss_after_bytes = after->rss_anon_bytes;
  }
  return report;
}

Result<LoadReport> load_into(const std::filesystem::path& path, Sink& sink, const PipelineOptions& options) {
  const Model model = RINGLOAD_TRY(Model::load(path));
  return load_into(model, sink, options);
}

void LoaderTestAccess::set_fault_injector(Loader& loader, FaultInjector fault) {
  loader.impl_->fault = std::move(fault);
}

}  // namespace ringload
