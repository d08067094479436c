// Every strategy on every file system we claim: ext4, xfs, btrfs (plain and zstd-compressed) on
// loop devices in the test's own temp dir, and tmpfs. Each generated model loads byte-exact with
// every strategy from a cold cache, `auto` completes and says what it chose, and nothing is left
// in the page cache (tmpfs is memory: exempt). A strategy the file system cannot run must refuse
// with a clear error that names the file, never load wrong bytes. Needs root and the loop driver;
// skips with the reason otherwise. Prints a table per file system and the time of each step.
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gen/gen.hpp"
#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "io/uring.hpp"
#include "ringload/pipeline.hpp"
#include "support/build_bytes.hpp"
#include "support/mounted_fs.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

namespace fs = std::filesystem;
using test::FsKind;
using test::MountedFs;

class Stopwatch {
 public:
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

void step(FsKind kind, std::string_view what, double seconds) {
  fmt::print("[fs {}] {}: {:.2f} s\n", test::fs_name(kind), what, seconds);
  (void)std::fflush(stdout);
}

// The models each file system holds: one per format from the library's generator (random-looking
// bytes, which no file system compresses), and a safetensors file whose 8-byte words count up (its
// own file offset / 8), which zstd shrinks several times over: on btrfs-zstd it lands in
// compressed extents, which O_DIRECT cannot read in place. Unaligned tensor ends come from the
// generators' norm vectors and the counter file's odd sizes.
struct ModelFile {
  std::string name;
  fs::path path;
};

fs::path write_counter_safetensors(const fs::path& path) {
  // Odd sizes: tensor edges fall inside pages and inside O_DIRECT blocks.
  const std::uint64_t sizes[] = {1, 4093, 1ULL << 20, 3 * (1ULL << 20) + 5, 777};
  std::string header = "{";
  std::uint64_t at = 0;
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    header += fmt::format(R"({}"t{}":{{"dtype":"U8","shape":[{}],"data_offsets":[{},{}]}})",
                          i == 0 ? "" : ",", i, sizes[i], at, at + sizes[i]);
    at += sizes[i];
  }
  header += "}";
  test::ByteBuilder file;
  file.u64(header.size()).str(header);
  const std::uint64_t data_start = file.size();
  std::vector<std::byte> data(at);
  for (std::uint64_t i = 0; i < at; ++i) {
    const std::uint64_t word = (data_start + i) / 8;
    data[i] = static_cast<std::byte>(word >> (8 * ((data_start + i) % 8)));
  }
  file.append(data);
  return test::write_file(path, file.bytes());
}

std::vector<ModelFile> write_models(const fs::path& dir) {
  struct Gen {
    const char* name;
    Format format;
    DType dtype;
    std::uint64_t bytes;
  };
  const Gen gens[] = {{"gen.safetensors", Format::safetensors, DType::BF16, 4ULL << 20},
                      {"gen.gguf", Format::gguf, DType::Q4_K, 2ULL << 20},
                      {"gen.apr", Format::apr, DType::F32, 2ULL << 20}};
  std::vector<ModelFile> files;
  for (const auto& g : gens) {
    gen::GenOptions o;
    o.format = g.format;
    o.dtype = g.dtype;
    o.target_bytes = g.bytes;
    o.seed = 14;
    auto written = gen::generate(dir / g.name, o);
    EXPECT_TRUE(written) << written.error().to_string();
    files.push_back({g.name, dir / g.name});
  }
  files.push_back({"counter.safetensors", write_counter_safetensors(dir / "counter.safetensors")});
  for (const auto& f : files) {
    // Dirty pages cannot be dropped: every load must start from the disk.
    auto fd = UniqueFd::open(f.path, O_RDONLY);
    EXPECT_TRUE(fd && ::fsync(fd->get()) == 0) << f.path;
  }
  return files;
}

// Extents of the file that the file system stores encoded (compressed), per FIEMAP.
std::uint32_t encoded_extents(const fs::path& path) {
  auto fd = UniqueFd::open(path, O_RDONLY);
  if (!fd) return 0;
  constexpr std::uint32_t kMaxExtents = 512;
  std::vector<std::byte> buffer(sizeof(fiemap) + kMaxExtents * sizeof(fiemap_extent));
  auto* map = reinterpret_cast<fiemap*>(buffer.data());
  map->fm_length = FIEMAP_MAX_OFFSET;
  map->fm_flags = FIEMAP_FLAG_SYNC;
  map->fm_extent_count = kMaxExtents;
  if (::ioctl(fd->get(), FS_IOC_FIEMAP, map) != 0) return 0;
  std::uint32_t encoded = 0;
  for (std::uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
    if ((map->fm_extents[i].fe_flags & FIEMAP_EXTENT_ENCODED) != 0) ++encoded;
  }
  return encoded;
}

Residency residency(const fs::path& path) {
  auto r = file_residency(path);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : Residency{};
}

// Drops the file's pages. Pages still under I/O cannot be dropped: a load refused at its first read
// returns within microseconds, while the readahead that opening the model started (the header's
// page faults) may still be on its way (seen on btrfs: 128 pages after a refused uring-dontcache
// load of a GGUF whose header spans many pages). Those are waited for and dropped again; the
// returned text says when that happened. tmpfs keeps its pages whatever is asked.
std::string evict(const fs::path& path, bool memory_fs) {
  auto fd = UniqueFd::open(path, O_RDONLY);
  EXPECT_TRUE(fd) << fd.error().to_string();
  if (!fd) return {};
  Stopwatch waited;
  std::uint64_t first_left = 0;
  for (int attempt = 0;; ++attempt) {
    auto dropped = drop_file_cache(fd->get(), 0, 0, path.string());
    EXPECT_TRUE(dropped) << dropped.error().to_string();
    auto left = file_residency(fd->get(), path.string());
    if (attempt == 0 && left) first_left = left->resident_pages;
    if (memory_fs || !left || left->resident_pages * 100 <= left->total_pages || attempt == 40) {
      return attempt == 0 ? std::string()
                          : fmt::format(
                                " (evicting first: {} pages of the previous load still arriving, "
                                "dropped after {:.0f} ms)",
                                first_left, waited.seconds() * 1e3);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string dio_alignment_of(const fs::path& path) {
  auto fd = UniqueFd::open(path, O_RDONLY);
  if (!fd) return "?";
  const auto dio = direct_io_alignment(fd->get());
  return dio ? fmt::format("offset {} B, memory {} B", dio->offset, dio->memory) : "not reported";
}

class EveryFileSystem : public ::testing::TestWithParam<FsKind> {
 protected:
  // What a killed earlier run left (its mounts would hold loop devices this run may need).
  static void SetUpTestSuite() {
    for (const auto& line : test::remove_stale_mounts(test::temp_root())) fmt::print("[fs] {}\n", line);
  }
};

TEST_P(EveryFileSystem, EveryStrategyLoadsByteExactFromColdAndLeavesNothingCached) {
  const FsKind kind = GetParam();
  const bool memory_fs = kind == FsKind::tmpfs;
  test::TempDir dir;
  Stopwatch mount_time;
  RINGLOAD_MOUNT_OR_SKIP(mounted, kind, dir.path(),
                         std::max<std::uint64_t>(test::min_image_bytes(kind), 96ULL << 20));
  step(kind,
       fmt::format("mkfs + mount on {} (loop O_DIRECT: {}, options '{}')", mounted->device(),
                   mounted->loop_direct_io() ? "yes" : "no", mounted->mount_options()),
       mount_time.seconds());
  ASSERT_EQ(test::is_memory_fs(mounted->root()), memory_fs) << "not the file system asked for";

  Stopwatch gen_time;
  const auto models = write_models(mounted->root());
  step(kind, "generate + fsync the models", gen_time.seconds());
  if (kind == FsKind::btrfs_zstd) {
    // Otherwise this case would be plain btrfs under another name.
    EXPECT_GT(encoded_extents(mounted->root() / "counter.safetensors"), 0U)
        << "btrfs compress-force=zstd stored the compressible file uncompressed";
  }
  const std::string dio = dio_alignment_of(models[0].path);
  fmt::print("[fs {}] O_DIRECT alignment (statx, else a probe read): {}\n", test::fs_name(kind), dio);

  Stopwatch load_time;
  std::vector<std::string> rows;
  std::vector<std::string> auto_ran;  // per file: what auto chose
  for (const auto& file : models) {
    for (const Strategy strategy : all_strategies()) {
      SCOPED_TRACE(fmt::format("{} on {}: {}", file.name, test::fs_name(kind), to_string(strategy)));
      const std::string eviction_note = evict(file.path, memory_fs);
      const Residency before = residency(file.path);
      if (!memory_fs) {
        ASSERT_LE(before.resident_pages * 100, before.total_pages) << "could not start cold";
      }

      Model model = test::load_model(file.path);
      HostSink sink;
      PipelineOptions options = test::small_ring(strategy);
      Stopwatch one;
      auto report = load_into(model, sink, options);
      const double ms = one.seconds() * 1e3;
      if (!report) {
        // A refusal, not a wrong load: the kernel or this file system lacks what the strategy is.
        ASSERT_TRUE(test::environment_refuses(strategy, report.error())) << report.error().to_string();
        EXPECT_EQ(report.error().path, file.path.string()) << "the refusal must name the file";
        EXPECT_EQ(sink.allocated_bytes(), 0U) << "a refused load keeps no destinations";
        rows.push_back(fmt::format("{:<20} {:<16} refused ({}): {}", file.name, to_string(strategy),
                                   to_string(report.error().kind), report.error().message));
        continue;
      }
      // Measured before the comparison below, which reads the file through the model's mapping.
      const Residency after = residency(file.path);
      if (!memory_fs) {
        EXPECT_LE(after.resident_pages * 100, after.total_pages)
            << after.resident_pages << " of " << after.total_pages << " pages left cached";
      }
      EXPECT_TRUE(test::holds_model(sink, model));
      std::uint64_t tensor_bytes = 0;
      for (const auto& t : model.tensors()) tensor_bytes += t.size;
      EXPECT_EQ(report->bytes, tensor_bytes);
      if (strategy == Strategy::automatic) {
        EXPECT_NE(report->strategy, Strategy::automatic) << "auto must say what ran";
        auto_ran.push_back(fmt::format("{} {} (cached before: {}/{} pages)", file.name,
                                       to_string(report->strategy), before.resident_pages,
                                       before.total_pages));
      }
      std::string why = eviction_note;
      for (const auto& w : report->warnings) why += "; " + w;
      rows.push_back(fmt::format("{:<20} {:<16} ok, ran as {:<16} {:7.1f} ms  cached after {}/{} pages{}",
                                 file.name, to_string(strategy), to_string(report->strategy), ms,
                                 after.resident_pages, after.total_pages, why));
      (void)model.release_cpu_pages();  // the comparison's own reads
    }
  }
  step(kind, fmt::format("{} loads", rows.size()), load_time.seconds());
  for (const auto& row : rows) fmt::print("[fs {}]   {}\n", test::fs_name(kind), row);
  // Why: auto's rule (strategy_table.hpp) reads the cache state and whether statx reports an
  // O_DIRECT alignment.
  fmt::print("[fs {}] auto ran as: {}; O_DIRECT alignment (statx, else a probe read): {}\n",
             test::fs_name(kind), fmt::join(auto_ran, ", "), dio);

  Stopwatch unmount_time;
  { const MountedFs gone = std::move(mounted).value(); }
  step(kind, "unmount + detach", unmount_time.seconds());
}

INSTANTIATE_TEST_SUITE_P(Kinds, EveryFileSystem, ::testing::ValuesIn(test::kAllFsKinds),
                         [](const auto& info) {
                           std::string name(test::fs_name(info.param));
                           for (auto& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace ringload
