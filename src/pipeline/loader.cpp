// Loader: one load at a time on the calling thread, through a LoadRun in a single step.
#include "pipeline/engine.hpp"
#include "pipeline/load_run.hpp"
#include "ringload/memstat.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

Loader::Loader() : engine_(std::make_unique<LoadEngine>()) {}
Loader::Loader(Loader&&) noexcept = default;
Loader& Loader::operator=(Loader&&) noexcept = default;
Loader::~Loader() = default;

Result<LoadReport> Loader::load(const Model& model, Sink& sink, const PipelineOptions& options) {
  return run_load(*engine_, model, sink, options);
}

Result<LoadReport> Loader::load(const Checkpoint& checkpoint, Sink& sink, const PipelineOptions& options) {
  return run_load(*engine_, checkpoint, sink, options);
}

namespace {

// A one-shot load: the engine (its ring, pinned or not) dies with the call, after its sink has
// finished every copy; what stays behind is measured after that (a reused Loader keeps its ring,
// reported as staging_bytes).
template <class Source>
Result<LoadReport> load_once(const Source& source, Sink& sink, const PipelineOptions& options) {
  auto report = [&] {
    LoadEngine engine;
    return run_load(engine, source, sink, options);
  }();
  if (report) {
    if (auto after = process_memory()) report->anon_rss_after_bytes = after->rss_anon_bytes;
  }
  return report;
}

}  // namespace

Result<LoadReport> load_into(const Model& model, Sink& sink, const PipelineOptions& options) {
  return load_once(model, sink, options);
}

Result<LoadReport> load_into(const Checkpoint& checkpoint, Sink& sink, const PipelineOptions& options) {
  return load_once(checkpoint, sink, options);
}

Result<LoadReport> load_into(const std::filesystem::path& path, Sink& sink, const PipelineOptions& options) {
  const Checkpoint checkpoint = RINGLOAD_TRY(Checkpoint::open(path));
  return load_into(checkpoint, sink, options);
}

}  // namespace ringload
