// `ringload load`: load a model into a destination and report time, throughput and what stayed
// behind. For now the two baselines of DESIGN.md — `read` (whole file onto the heap, then copy)
// and `mmap` (map, copy tensor by tensor, release at the end); the pipelined strategies follow.
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/json.hpp"
#include "commands.hpp"
#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "progress.hpp"
#include "ringload/memstat.hpp"
#include "ringload/model.hpp"
#include "units.hpp"

namespace ringload::cli {
namespace {

using Json = nlohmann::ordered_json;

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

// Where the bytes go. `host` keeps them (a destination buffer, pre-faulted so the timing measures
// the load, not page faults); `null` reads every byte and keeps nothing, so a lazy path such as a
// mapping cannot skip the work.
class Destination {
 public:
  Destination(bool keep, std::uint64_t total) : keep_(keep) {
    if (keep_ && total > 0) {
      buffer_ = std::make_unique_for_overwrite<std::byte[]>(total);
      std::memset(buffer_.get(), 0, total);
    }
  }
  void accept(std::span<const std::byte> bytes) {
    if (keep_) {
      std::memcpy(buffer_.get() + used_, bytes.data(), bytes.size());
      used_ += bytes.size();
      return;
    }
    std::uint64_t acc = fold_;
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, bytes.data() + i, 8);
      acc += word;
    }
    for (; i < bytes.size(); ++i) acc += static_cast<std::uint64_t>(bytes[i]);
    fold_ = acc;
  }
  [[nodiscard]] std::uint64_t fold() const { return fold_; }

 private:
  bool keep_;
  std::unique_ptr<std::byte[]> buffer_;
  std::uint64_t used_ = 0;
  std::uint64_t fold_ = 0;
};

}  // namespace

std::function<int()> add_load(CLI::App& app) {
  struct Options {
    std::string file;
    std::string strategy = "mmap";
    std::string sink = "host";
    bool no_release = false;
    bool json = false;
    bool quiet = false;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "load",
      "Load every tensor of FILE into a destination and report wall time, throughput, CPU time, peak\n"
      "RSS, and the anonymous memory and page cache left behind.\n"
      "Strategies (baselines for now): read = whole file onto the heap, then copy;\n"
      "mmap = map the file, copy tensor by tensor, release the pages at the end.\n"
      "Example: ringload load --strategy read --sink null --json model.safetensors");
  sub->add_option("file", opts->file, "Model file")->required();
  sub->add_option("--strategy", opts->strategy, "read | mmap")
      ->check(CLI::IsMember({"read", "mmap"}))
      ->capture_default_str();
  sub->add_option("--sink", opts->sink, "host (keep the bytes in a host buffer) | null (read and discard)")
      ->check(CLI::IsMember({"host", "null"}))
      ->capture_default_str();
  sub->add_flag("--no-release", opts->no_release, "Keep the file's pages mapped and cached after the load");
  sub->add_flag("--json", opts->json, "Print the report as one JSON object");
  sub->add_flag("-q,--quiet", opts->quiet, "No progress bar");

  return [opts]() {
    auto fail = [](const Error& e) {
      fmt::print(stderr, "ringload load: {}\n", e.to_string());
      return e.kind == ErrorKind::io || e.kind == ErrorKind::out_of_memory ? kExitFailure : kExitBadInput;
    };
    const auto baseline = process_memory();
    auto model = Model::load(opts->file);
    if (!model) return fail(model.error());
    std::uint64_t total = 0;
    for (const auto& t : model->tensors()) total += t.size;
    Destination dest(opts->sink == "host", total);
    ProgressBar bar("load", total, !opts->quiet && !opts->json);

    const double cpu_start = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    double first_tensor_s = -1;
    std::uint64_t done = 0;
    auto deliver = [&](std::span<const std::byte> bytes) {
      dest.accept(bytes);
      if (first_tensor_s < 0) {
        first_tensor_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      done += bytes.size();
      bar.update(done);
    };
    if (opts->strategy == "read") {
      auto heap =
          model->is_mmap() ? read_file(opts->file) : Result<std::vector<std::byte>>(std::vector<std::byte>{});
      if (!heap) return fail(heap.error());
      const std::span<const std::byte> image =
          model->is_mmap() ? std::span<const std::byte>(*heap) : model->image();
      for (const auto& t : model->tensors()) deliver(image.subspan(t.offset, t.size));
    } else {
      for (const auto& t : model->tensors()) deliver(*model->tensor_bytes(t.name));
      if (!opts->no_release) {
        auto released = model->release_cpu_pages();
        if (!released) return fail(released.error());
      }
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu_start;
    bar.finish();

    const auto after = process_memory();
    auto residency = file_residency(opts->file);
    const std::uint64_t resident_pages = residency ? residency->resident_pages : 0;
    const std::uint64_t total_pages = residency ? residency->total_pages : 0;
    const double gbps = wall > 0 ? static_cast<double>(total) / wall / 1e9 : 0.0;

    if (opts->json) {
      Json out{{"path", opts->file},
               {"format", std::string(to_string(model->format()))},
               {"strategy", opts->strategy},
               {"sink", opts->sink},
               {"bytes", total},
               {"tensors", model->tensors().size()},
               {"wall_s", wall},
               {"gb_per_s", gbps},
               {"time_to_first_tensor_s", first_tensor_s},
               {"cpu_s", cpu},
               {"cpu_s_per_gb", total > 0 ? cpu / (static_cast<double>(total) / 1e9) : 0.0},
               {"peak_rss", after ? after->hwm_bytes : 0},
               {"anon_rss_before", baseline ? baseline->rss_anon_bytes : 0},
               {"anon_rss_after", after ? after->rss_anon_bytes : 0},
               {"file_resident_pages_after", resident_pages},
               {"file_total_pages", total_pages},
               {"checksum_fold", dest.fold()}};
      fmt::print("{}\n", dump_json(out, 2));
      return kExitOk;
    }
    fmt::print("{} {} → {}: {} in {} ({:.2f} GB/s, {}), first tensor after {}, CPU {:.2f} s\n",
               opts->strategy, opts->file, opts->sink, format_bytes(total), format_seconds(wall), gbps,
               format_rate(static_cast<double>(total) / wall), format_seconds(std::max(0.0, first_tensor_s)),
               cpu);
    if (after && baseline) {
      fmt::print(
          "  peak RSS {}, anonymous RSS {} → {}, file pages cached after: {} of {} ({:.1f}%)\n",
          format_bytes(after->hwm_bytes), format_bytes(baseline->rss_anon_bytes),
          format_bytes(after->rss_anon_bytes), resident_pages, total_pages,
          total_pages ? 100.0 * static_cast<double>(resident_pages) / static_cast<double>(total_pages) : 0.0);
    }
    return kExitOk;
  };
}

}  // namespace ringload::cli
