// LoadRun::begin: resolves the strategy, opens its source, plans the chunks, readies the ring
// (pinned for the sink's device) and the sink. The schedule that follows is load_run.cpp.
#include <fmt/format.h>

#include "pipeline/load_run.hpp"
#include "pipeline/strategy_table.hpp"
#include "ringload/memstat.hpp"

namespace ringload {
namespace {

// The staging ring is pinned memory in CUDA builds: bounded, so a typo cannot pin the machine.
constexpr std::uint64_t kMaxRingBytes = 256ULL << 20;

Result<void> check_geometry(const PipelineOptions& options) {
  const auto ring_bytes = static_cast<unsigned __int128>(options.slot_count) * options.slot_size;
  if (options.slot_count == 0 || options.slot_size < 65536 || options.slot_size % 65536 != 0 ||
      ring_bytes > kMaxRingBytes || options.read_size == 0 || options.read_size % 4096 != 0 ||
      options.queue_depth == 0) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("slots {} x {} bytes, reads of {} bytes, queue depth {}: need ≥ 1 slot "
                    "of a multiple of 64 KiB (at most {} MiB in all), reads a multiple of 4 KiB, depth ≥ 1",
                    options.slot_count, options.slot_size, options.read_size, options.queue_depth,
                    kMaxRingBytes >> 20));
  }
  return {};
}

PlanOptions plan_options(const PipelineOptions& options, const SourceNeeds& needs) {
  PlanOptions plan;
  plan.slot_size = needs.max_chunk != 0 ? needs.max_chunk : options.slot_size;
  plan.alignment = needs.alignment;
  plan.max_gap = options.read_size;
  plan.per_tensor = needs.per_tensor;
  plan.tensor_names = options.tensor_names;
  plan.shard_rank = options.shard_rank;
  plan.shard_world = options.shard_world;
  return plan;
}

}  // namespace

Result<void> LoadRun::begin() {
  const CpuMeter meter(cpu_);
  report_.path = model_.path();
  report_.requested = options_.strategy;
  report_.sink = std::string(sink_.name());
  if (auto before = process_memory()) report_.anon_rss_before_bytes = before->rss_anon_bytes;
  if (auto ok = check_geometry(options_); !ok) return located(std::move(ok).error());
  RINGLOAD_TRY_VOID(open_source());
  const SourceNeeds needs = source_->needs();
  auto planned = make_plan(model_, plan_options(options_, needs));
  if (!planned) return located(std::move(planned).error());
  plan_ = std::move(planned).value();
  if (needs.slots) RINGLOAD_TRY_VOID(prepare_staging());
  if (auto prepared = sink_.prepare(plan_->tensors); !prepared) return located(std::move(prepared).error());
  delivery_.emplace(*plan_, sink_, options_, report_, start_);
  if (options_.release) {
    releaser_.emplace(model_.is_mmap() ? model_.image() : std::span<const std::byte>{}, model_.fd(),
                      model_.path(), [this](std::string_view w) { warn(w); });
  }
  const auto chunks = static_cast<std::uint32_t>(plan_->chunks.size());
  window_.emplace(chunks, ring_ != nullptr ? ring_->slot_count() : 0);
  read_span_.assign(chunks, 0);
  arrived_.assign(chunks, ChunkDone{});
  delivery_->tensors_ready_through(-1);  // zero-byte tensors before the first chunk
  return {};
}

Result<void> LoadRun::open_source() {
  auto warn_here = [this](std::string_view w) { warn(w); };
  report_.strategy = RINGLOAD_TRY(resolve_strategy(options_.strategy, model_, engine_, options_, warn_here));
  const SourceContext context{model_, options_, engine_, sink_, warn_here};
  auto opened = strategy_entry(report_.strategy).open(context);
  if (!opened && opened.error().kind == ErrorKind::unsupported_feature &&
      options_.strategy == Strategy::automatic && report_.strategy == Strategy::uring_direct) {
    warn("O_DIRECT open failed; auto falls back to buffered reads + FADV_DONTNEED");
    report_.strategy = Strategy::uring;
    opened = strategy_entry(report_.strategy).open(context);
  }
  if (!opened) return located(std::move(opened).error());
  source_ = std::move(opened).value();
  return {};
}

Result<void> LoadRun::prepare_staging() {
  const std::optional<int> device = sink_.staging_device();
  const std::optional<int> node = device ? engine_.pinner().numa_node(*device) : std::nullopt;
  ring_ = RINGLOAD_TRY(engine_.ring(options_.slot_count, options_.slot_size, node));
  if (device) {
    if (auto pinned = ring_->pin_for(*device, engine_.pinner()); !pinned) {
      warn(fmt::format("{}; copying from unpinned staging memory, at lower speed",
                       pinned.error().to_string()));
    }
    report_.staging_pinned = ring_->pinned_for(*device);
  }
  source_->attach(*ring_);
  report_.staging_bytes = ring_->memory().size();
  report_.staging_huge_pages = ring_->huge_pages();
  report_.staging_registered = source_->fixed_buffers();
  return {};
}

}  // namespace ringload
