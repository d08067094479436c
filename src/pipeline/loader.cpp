// Loader: one load at a time on the calling thread, through a LoadRun in a single step.
#include <limits>

#include "pipeline/engine.hpp"
#include "pipeline/load_run.hpp"
#include "ringload/memstat.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

Loader::Loader() : engine_(std::make_unique<LoadEngine>()) {}
Loader::Loader(Loader&&) noexcept = default;
Loader& Loader::operator=(Loader&&) noexcept = default;
Loader::~Loader() = default;

Result<LoadReport> run_load(LoadEngine& engine, const Model& model, Sink& sink,
                            const PipelineOptions& options) {
  LoadRun run(engine, model, sink, options);
  auto done = [&]() -> Result<LoadReport> {
    RINGLOAD_TRY_VOID(run.begin());
    RINGLOAD_TRY_VOID(run.step(std::numeric_limits<std::uint64_t>::max(), nullptr));
    return run.finish();
  }();
  if (!done) run.abandon(done.error());
  return done;
}

Result<LoadReport> Loader::load(const Model& model, Sink& sink, const PipelineOptions& options) {
  return run_load(*engine_, model, sink, options);
}

Result<LoadReport> load_into(const Model& model, Sink& sink, const PipelineOptions& options) {
  // The engine (its ring, pinned or not) dies with this call: its sink has finished every copy.
  auto report = [&] {
    LoadEngine engine;
    return run_load(engine, model, sink, options);
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

}  // namespace ringload
