#include "pipeline/plan.hpp"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "base/checked.hpp"
#include "pipeline/slice.hpp"

namespace ringload {
namespace {

// The shard's byte range of a tensor: whole blocks (a quantized block is never split), rank r of
// w taking blocks [n·r/w, n·(r+1)/w). APR_Q8's 4-byte scale prefix makes its blocks 1 byte.
std::pair<std::uint64_t, std::uint64_t> shard_range(const TensorInfo& t, std::uint32_t rank,
                                                    std::uint32_t world) {
  if (world <= 1) return {0, t.size};
  const DTypeInfo& info = dtype_info(t.dtype);
  std::uint64_t unit = info.prefix_bytes == 0 ? info.block_bytes : 1;
  if (unit == 0 || t.size % unit != 0) unit = 1;
  const std::uint64_t units = t.size / unit;
  // units · rank fits: units ≤ 2^64 / unit and rank < world ≤ 2^32 would overflow only for
  // tensors beyond 2^32 units; use 128-bit arithmetic to stay exact.
  const auto begin = static_cast<std::uint64_t>(static_cast<unsigned __int128>(units) * rank / world);
  const auto end = static_cast<std::uint64_t>(static_cast<unsigned __int128>(units) * (rank + 1) / world);
  return {begin * unit, end * unit};
}

class ChunkBuilder {
 public:
  ChunkBuilder(Plan& plan, const PlanOptions& options, std::uint32_t file, std::uint64_t file_size)
      : plan_(plan), options_(options), file_(file), file_size_(file_size) {}

  // Bytes [file_begin, file_begin + length) of the file, which go to `tensor` from
  // `tensor_begin` on. Calls come in file order.
  void add(std::uint32_t tensor, std::uint64_t file_begin, std::uint64_t length,
           std::uint64_t tensor_begin = 0) {
    std::uint64_t pos = file_begin;
    const std::uint64_t end = file_begin + length;
    while (pos < end) {
      if (!open_ || !can_extend_to(pos)) start(pos);
      const std::uint64_t limit = current_.file_offset + options_.slot_size;
      const std::uint64_t take = std::min(end, limit) - pos;
      current_.pieces.push_back(Piece{.tensor = tensor,
                                      .tensor_offset = tensor_begin + (pos - file_begin),
                                      .chunk_offset = pos - current_.file_offset,
                                      .length = take});
      needed_end_ = pos + take;
      pos += take;
      if (needed_end_ == limit) close();
    }
  }
  void close() {
    if (!open_) return;
    const std::uint64_t end = align_up(needed_end_, options_.alignment).value_or(needed_end_);
    current_.length = end - current_.file_offset;
    current_.valid = std::min(end, file_size_) - current_.file_offset;
    current_.file = file_;
    plan_.bytes_read += current_.valid;
    plan_.chunks.push_back(std::move(current_));
    current_ = Chunk{};
    open_ = false;
  }
  [[nodiscard]] std::uint32_t next_index() const { return static_cast<std::uint32_t>(plan_.chunks.size()); }

 private:
  // Extend the open chunk over a gap only when the gap is small and the bytes fit the slot. Small
  // is max_gap (the read size, 1 MiB by default), which also decides between read-and-trim and
  // separate reads for the strided runs of a sliced inner dim: a hole of ≤ 1 MiB costs ≤ ~0.5 ms
  // at the ~2 GB/s a local NVMe disk reads, about what one more request's latency costs, and
  // reading through it keeps every read large; a larger hole costs more than the request saved.
  [[nodiscard]] bool can_extend_to(std::uint64_t pos) const {
    return pos < current_.file_offset + options_.slot_size &&
           read_through(needed_end_, pos, options_.alignment, options_.max_gap);
  }
  void start(std::uint64_t pos) {
    close();
    current_.file_offset = align_down(pos, options_.alignment);
    needed_end_ = pos;
    open_ = true;
  }

  Plan& plan_;
  const PlanOptions& options_;
  std::uint32_t file_;
  std::uint64_t file_size_;
  Chunk current_;
  std::uint64_t needed_end_ = 0;
  bool open_ = false;
};

Result<void> check_parts(const PlanOptions& options) {
  if (options.shard_world == 0 || options.shard_rank >= options.shard_world) {
    return make_error(ErrorKind::invalid_argument, fmt::format("shard {} of {} does not exist (rank < world)",
                                                               options.shard_rank, options.shard_world));
  }
  if (options.slices.empty()) return {};
  if (options.shard_world > 1) {
    return make_error(ErrorKind::invalid_argument,
                      "--slice and --shard do not combine: slice rules cut tensors along a dim, a shard "
                      "cuts their bytes; use one of them");
  }
  if (options.slice_world == 0 || options.slice_rank >= options.slice_world) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("slice part {} of {} does not exist (need rank < world)",
                                  options.slice_rank, options.slice_world));
  }
  return {};
}

// Appends `t` to the plan as this load takes it: its slice part (with a TensorInfo of the part's
// shape, owned by the plan), else its shard's byte range (the whole tensor unsharded).
Result<void> take_part(Plan& plan, const TensorInfo& t, const PlanOptions& options) {
  SinkTensor sink{.index = static_cast<std::uint32_t>(plan.tensors.size()), .info = &t};
  TensorRuns runs;
  if (const SliceRule* rule = matching_slice_rule(t.name, options.slices)) {
    const Format format =
        t.file < options.file_formats.size() ? options.file_formats[t.file] : Format::safetensors;
    SliceGeometry geometry =
        RINGLOAD_TRY(slice_geometry(t, format, rule->dim, options.slice_rank, options.slice_world));
    auto part = std::make_unique<TensorInfo>(t);
    part->shape = std::move(geometry.shape);
    part->size = geometry.bytes();
    sink.info = part.get();
    plan.sliced_infos.push_back(std::move(part));
    sink.file_offset = t.offset + geometry.first_byte;
    sink.size = geometry.bytes();
    runs = {.run_bytes = geometry.run_bytes, .stride_bytes = geometry.stride_bytes, .count = geometry.runs};
  } else {
    const auto [begin, end] = shard_range(t, options.shard_rank, options.shard_world);
    sink.file_offset = t.offset + begin;
    sink.size = end - begin;
    runs = {.run_bytes = sink.size, .stride_bytes = sink.size, .count = 1};
  }
  plan.tensors.push_back(sink);
  plan.runs.push_back(runs);
  plan.bytes += sink.size;
  return {};
}

}  // namespace

PlanOptions selection_options(const PipelineOptions& options, std::span<const Format> file_formats) {
  PlanOptions plan;
  plan.tensor_names = options.tensor_names;
  plan.shard_rank = options.shard_rank;
  plan.shard_world = options.shard_world;
  plan.slices = options.slices;
  plan.slice_rank = options.rank;
  plan.slice_world = options.world;
  plan.file_formats = file_formats;
  return plan;
}

Result<Plan> select_tensors(std::span<const TensorInfo> all, std::size_t file_count,
                            const PlanOptions& options, const std::string& path) {
  RINGLOAD_TRY_VOID(check_parts(options));
  std::vector<bool> wanted(all.size(), options.tensor_names.empty());
  if (!options.tensor_names.empty()) {
    std::unordered_map<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < all.size(); ++i) index.emplace(all[i].name, i);
    for (const auto& name : options.tensor_names) {
      auto it = index.find(name);
      if (it == index.end()) {
        Error e = make_error(ErrorKind::not_found, "no such tensor to load", std::nullopt, name);
        e.path = path;
        return e;
      }
      wanted[it->second] = true;
    }
  }
  Plan plan;
  plan.files.resize(file_count);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const TensorInfo& t = all[i];
    PlannedFile& file = plan.files[t.file];
    if (file.end_tensor == 0)
      file.first_tensor = file.end_tensor = static_cast<std::uint32_t>(plan.tensors.size());
    if (!wanted[i]) continue;
    const auto index = static_cast<std::uint32_t>(plan.tensors.size());
    if (auto taken = take_part(plan, t, options); !taken) {
      Error e = std::move(taken).error();
      e.path = path;
      return e;
    }
    file.bytes += plan.tensors.back().size;
    file.end_tensor = index + 1;
  }
  // A file none of whose tensors is taken sits where its place in the order is.
  std::uint32_t at = 0;
  for (PlannedFile& file : plan.files) {
    if (file.end_tensor == file.first_tensor) file.first_tensor = file.end_tensor = at;
    at = file.end_tensor;
  }
  plan.last_chunk.assign(plan.tensors.size(), kUnplanned);
  return plan;
}

Result<void> plan_file(Plan& plan, std::uint32_t file, std::uint64_t file_size, const PlanOptions& options) {
  if (options.alignment == 0 || !is_power_of_two(options.alignment) || options.slot_size == 0 ||
      options.slot_size % options.alignment != 0) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("slot size {} must be a non-zero multiple of the alignment {}",
                                  options.slot_size, options.alignment));
  }
  PlannedFile& planned = plan.files.at(file);
  const auto first_chunk = static_cast<std::uint32_t>(plan.chunks.size());
  ChunkBuilder builder(plan, options, file, file_size);
  for (std::uint32_t i = planned.first_tensor; i < planned.end_tensor; ++i) {
    const SinkTensor& t = plan.tensors[i];
    const TensorRuns& runs = plan.runs[i];
    if (options.per_tensor) builder.close();
    // A sliced inner dim: one add per run, each landing after the previous one in the destination.
    for (std::uint64_t k = 0; k < runs.count; ++k) {
      builder.add(i, t.file_offset + k * runs.stride_bytes, runs.run_bytes, k * runs.run_bytes);
    }
  }
  builder.close();
  planned.planned = true;
  planned.first_chunk = first_chunk;
  planned.end_chunk = static_cast<std::uint32_t>(plan.chunks.size());

  // Each tensor completes with the chunk that holds its last byte; an empty tensor completes as
  // soon as everything before it has (the last chunk of the closest non-empty predecessor, in this
  // file or before it).
  std::int64_t running = static_cast<std::int64_t>(first_chunk) - 1;
  std::vector<std::int64_t> last(planned.end_tensor - planned.first_tensor, -1);
  for (std::uint32_t c = first_chunk; c < planned.end_chunk; ++c) {
    for (const Piece& p : plan.chunks[c].pieces) last[p.tensor - planned.first_tensor] = c;
  }
  for (std::uint32_t i = planned.first_tensor; i < planned.end_tensor; ++i) {
    if (last[i - planned.first_tensor] >= 0) running = last[i - planned.first_tensor];
    plan.last_chunk[i] = running;
  }
  return {};
}

bool read_through(std::uint64_t end, std::uint64_t next, std::uint64_t alignment,
                  std::uint64_t max_gap) noexcept {
  if (next <= end) return true;
  if (align_down(next, alignment) < align_up(end, alignment).value_or(end)) return true;
  return next - end <= max_gap;
}

Result<Plan> make_plan(const Model& model, const PlanOptions& options) {
  auto plan = select_tensors(model.tensors(), 1, options, model.path());
  if (!plan) return plan;
  RINGLOAD_TRY_VOID(plan_file(*plan, 0, model.image().size(), options));
  return plan;
}

}  // namespace ringload
