// A container without io_uring, for real: a child process under a seccomp filter that makes
// io_uring_setup fail with EPERM (what Docker's default profile does) loads generated files
// of every format, a fixture and a sharded checkpoint with every strategy, cold. `auto` must
// complete byte-exact through pread-direct (O_DIRECT preads, engine "pread") with nothing left in
// the page cache and a reason naming EPERM; the explicit io_uring strategies must fail with the
// error they give today (permission_denied, EPERM, naming the way out); the others load as ever.
//
// The filter is a raw seccomp BPF program of seven instructions rather than libseccomp: it needs no
// new dependency (library, pkg-config, an optional meson path) for one test, and what it does is
// all on this page.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gen/gen.hpp"
#include "io/page_cache.hpp"
#include "io/uring.hpp"
#include "ringload/checkpoint.hpp"
#include "support/checkpoints.hpp"
#include "support/fixtures.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

#if defined(__x86_64__)
constexpr std::uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
constexpr std::uint32_t kAuditArch = 0;  // the test skips itself
#endif

// How the parent tells the exec'd child where the files are and where to write its lines.
constexpr const char* kChildDirVar = "RINGLOAD_NO_URING_CHILD_DIR";
constexpr const char* kChildFdVar = "RINGLOAD_NO_URING_CHILD_FD";

// io_uring_setup → EPERM for this thread and every thread it starts from now on; everything else
// allowed. Returns errno on failure (0 on success).
int block_io_uring_setup() {
  std::array<sock_filter, 7> program = {{
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),  // another ABI's call numbers: not ours to judge
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  }};
  const sock_fprog fprog{.len = static_cast<unsigned short>(program.size()), .filter = program.data()};
  // Without CAP_SYS_ADMIN a filter needs no_new_privs; with it, no_new_privs costs nothing here.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) return errno;
  return 0;
}

// One load in the child, as the parent sees it.
struct Outcome {
  std::string file;
  std::string strategy;
  bool ok = false;
  std::string ran;
  std::string io_engine;
  std::string reason;
  bool exact = false;
  std::uint64_t resident_after = 0;
  std::uint64_t total_pages = 0;
  std::string kind;  // the error's, when !ok
  int os_errno = 0;
  std::string message;
};

std::string clean(std::string s) {  // one field of a tab-separated line
  for (char& c : s) c = (c == '\t' || c == '\n') ? ' ' : c;
  return s;
}

std::string line_of(const Outcome& o) {
  return fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", clean(o.file), o.strategy,
                     o.ok ? 1 : 0, o.ran, o.io_engine, clean(o.reason), o.exact ? 1 : 0, o.resident_after,
                     o.total_pages, o.kind, o.os_errno, clean(o.message));
}

Outcome outcome_of(const std::string& line) {
  std::vector<std::string> f;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, '\t');) f.push_back(field);
  f.resize(12);
  Outcome o;
  o.file = f[0];
  o.strategy = f[1];
  o.ok = f[2] == "1";
  o.ran = f[3];
  o.io_engine = f[4];
  o.reason = f[5];
  o.exact = f[6] == "1";
  o.resident_after = f[7].empty() ? 0 : std::stoull(f[7]);
  o.total_pages = f[8].empty() ? 0 : std::stoull(f[8]);
  o.kind = f[9];
  o.os_errno = f[10].empty() ? 0 : std::stoi(f[10]);
  o.message = f[11];
  return o;
}

template <class Load, class Exact, class Evict, class Residency>
Outcome run_one(const std::string& file, Strategy strategy, const Load& load, const Exact& exact,
                const Evict& evict, const Residency& residency) {
  Outcome o;
  o.file = file;
  o.strategy = std::string(to_string(strategy));
  evict();
  HostSink sink;
  PipelineOptions options = test::small_ring(strategy);
  auto report = load(sink, options);
  o.ok = report.has_value();
  if (report) {
    o.ran = std::string(to_string(report->strategy));
    o.io_engine = report->io_engine;
    o.reason = report->io_engine_reason;
    // Counted before the byte check, which reads the file through a mapping.
    const auto cached = residency();
    o.resident_after = cached.first;
    o.total_pages = cached.second;
    o.exact = exact(sink);
  } else {
    o.kind = std::string(to_string(report.error().kind));
    o.os_errno = report.error().os_errno;
    o.message = report.error().to_string();
  }
  return o;
}

// The child's work, under the filter: every strategy on every file in `dir`; one line per load on
// `out`.
void child_loads(const std::filesystem::path& dir, int out) {
  auto say = [out](const std::string& s) { (void)!::write(out, s.data(), s.size()); };
  auto probe = Uring::create(8);
  say(fmt::format("probe\t{}\n", probe ? 0 : probe.error().os_errno));

  std::vector<std::filesystem::path> models;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) models.push_back(entry.path());
  }
  std::sort(models.begin(), models.end());
  for (const auto& path : models) {
    auto model = Model::load(path);
    if (!model) {
      say(fmt::format("open\t{}\n", clean(model.error().to_string())));
      continue;
    }
    for (Strategy strategy : all_strategies()) {
      // One-shot loads: each probes io_uring for itself, as a process in a container would.
      const Outcome o = run_one(
          path.filename().string(), strategy,
          [&](Sink& sink, const PipelineOptions& options) { return load_into(*model, sink, options); },
          [&](const HostSink& sink) { return static_cast<bool>(test::holds_model(sink, *model)); },
          [&] { (void)model->release_cpu_pages(); },
          [&] {
            auto r = file_residency(path);
            return r ? std::pair{r->resident_pages, r->total_pages}
                     : std::pair<std::uint64_t, std::uint64_t>{};
          });
      say(line_of(o));
    }
  }

  // A checkpoint of three shards through one Loader: its engine probes io_uring once for all.
  auto ckpt = Checkpoint::open(dir / "ckpt");
  if (!ckpt) {
    say(fmt::format("open\t{}\n", clean(ckpt.error().to_string())));
    return;
  }
  Loader loader;
  for (Strategy strategy : all_strategies()) {
    const Outcome o = run_one(
        "ckpt", strategy,
        [&](Sink& sink, const PipelineOptions& options) { return loader.load(*ckpt, sink, options); },
        [&](const HostSink& sink) {
          const auto tensors = ckpt->tensors();
          if (sink.tensor_count() != tensors.size()) return false;
          for (std::uint32_t i = 0; i < tensors.size(); ++i) {
            auto want = ckpt->tensor_bytes(tensors[i].name);
            const auto got = sink.bytes(i);
            if (!want || want->size() != got.size() ||
                (!got.empty() && std::memcmp(want->data(), got.data(), got.size()) != 0)) {
              return false;
            }
          }
          return true;
        },
        [&] { (void)ckpt->release_cpu_pages(); },
        [&] {
          std::pair<std::uint64_t, std::uint64_t> sum{};
          for (const CheckpointFile& f : ckpt->files()) {
            if (auto r = file_residency(f.path)) {
              sum.first += r->resident_pages;
              sum.second += r->total_pages;
            }
          }
          return sum;
        });
    say(line_of(o));
  }
}

// The child's half of the test below: runs only in the process that test starts.
TEST(NoIoUringChild, LoadsEveryFileWithEveryStrategy) {
  const char* dir = std::getenv(kChildDirVar);
  const char* fd = std::getenv(kChildFdVar);
  if (dir == nullptr || fd == nullptr)
    GTEST_SKIP() << "runs only as NoIoUring's child, under its seccomp filter";
  child_loads(dir, std::atoi(fd));
}

TEST(NoIoUring, UnderASeccompFilterAutoLoadsThroughPreadDirectAndTheUringStrategiesSayWhy) {
  if (kAuditArch == 0) GTEST_SKIP() << "no seccomp architecture constant for this CPU in the test";
  test::TempDir dir;
  const bool memory_fs = test::is_memory_fs(dir.path());
  // Every format gen writes, a few MiB each: many chunks of the 256 KiB test ring.
  struct Made {
    Format format;
    gen::Compression compression;
    const char* name;
  };
  for (const Made& m : {Made{Format::safetensors, gen::Compression::none, "m.safetensors"},
                        Made{Format::gguf, gen::Compression::none, "m.gguf"},
                        Made{Format::apr, gen::Compression::none, "m.apr"},
                        Made{Format::apr, gen::Compression::zstd, "z.apr"}}) {
    gen::GenOptions options;
    options.format = m.format;
    options.compression = m.compression;
    options.target_bytes = 3ULL << 20;
    options.seed = 7;
    ASSERT_TRUE(gen::generate(dir.file(m.name), options)) << m.name;
  }
  if (const auto fixtures = test::fixtures_dir()) {
    for (const char* name : {"hadamards.safetensors", "ollama-llama-2-tiny-random.gguf"}) {
      if (std::filesystem::exists(*fixtures / name)) {
        std::filesystem::copy_file(*fixtures / name, dir.file(name));  // into the test's own dir
      }
    }
  }
  test::generate_or_fail(dir.file("ckpt"), test::small_checkpoint(Format::safetensors, 3, 12, 3ULL << 20));
  ::sync();  // written pages are dirty, and dirty pages cannot be dropped: a cold load needs them clean

  // The child execs this test binary afresh under the filter (as a container's process starts
  // under its profile), running only NoIoUringChild: a fork of this process would carry every
  // earlier test's threads and sanitizer state into loads that start threads of their own.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) env_text.emplace_back(*e);
  env_text.push_back(fmt::format("{}={}", kChildDirVar, dir.path().string()));
  env_text.push_back(fmt::format("{}={}", kChildFdVar, pipe_fds[1]));
  std::vector<char*> envp;
  for (std::string& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string filter = "--gtest_filter=NoIoUringChild.*";
  std::array<char*, 3> argv = {exe.data(), filter.data(), nullptr};
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (const int blocked = block_io_uring_setup(); blocked != 0) {
      const std::string line = fmt::format("filter\t{}\n", blocked);
      (void)!::write(pipe_fds[1], line.data(), line.size());
      ::_exit(0);
    }
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDOUT_FILENO);  // the child's gtest chatter; its stderr stays for a crash
    ::execve(exe.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string text;
  std::array<char, 4096> buffer{};
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer.data(), buffer.size())) > 0;) text.append(buffer.data(), n);
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child died: status " << status << "\n"
                                                             << text;

  std::vector<Outcome> loads;
  std::stringstream lines(text);
  bool probed = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("filter\t")) GTEST_SKIP() << "seccomp filter refused here: errno " << line.substr(7);
    if (line.starts_with("probe\t")) {
      probed = true;
      EXPECT_EQ(line, fmt::format("probe\t{}", EPERM)) << "io_uring_setup under the filter";
      continue;
    }
    ASSERT_FALSE(line.starts_with("open\t")) << line;
    loads.push_back(outcome_of(line));
  }
  ASSERT_TRUE(probed) << text;
  // 6 files (2 of them fixtures, when present) and the checkpoint, every strategy each.
  ASSERT_GE(loads.size(), 5 * all_strategies().size()) << text;

  for (const Outcome& o : loads) {
    SCOPED_TRACE(fmt::format("{} with {}", o.file, o.strategy));
    const Strategy strategy = *strategy_from_name(o.strategy);
    // A compressed APR is decompressed into memory: every strategy copies from there.
    const bool in_memory = o.file == "z.apr";
    if (test::needs_uring(strategy) && !in_memory) {
      ASSERT_FALSE(o.ok) << "an io_uring strategy ran without io_uring";
      EXPECT_EQ(o.kind, to_string(ErrorKind::permission_denied)) << o.message;
      EXPECT_EQ(o.os_errno, EPERM) << o.message;
      EXPECT_NE(o.message.find("io_uring_setup"), std::string::npos) << o.message;
      EXPECT_NE(o.message.find("pread-direct"), std::string::npos) << "names the way out: " << o.message;
      continue;
    }
    ASSERT_TRUE(o.ok) << o.message;
    EXPECT_TRUE(o.exact) << "bytes differ";
    if (in_memory) {
      // The baselines copy from memory as they always do; the rest copy through the ring.
      EXPECT_EQ(o.io_engine, strategy == Strategy::read ? "read" : "mmap");
      continue;
    }
    if (strategy == Strategy::automatic) {
      // Cold, so auto reads: with O_DIRECT preads where the file system takes them.
      if (!memory_fs) {
        EXPECT_EQ(o.ran, "pread-direct");
        EXPECT_EQ(o.io_engine, "pread");
      }
      EXPECT_NE(o.reason.find("EPERM"), std::string::npos) << o.reason;
      EXPECT_NE(o.reason.find("io_uring_setup"), std::string::npos) << o.reason;
    }
    if (strategy == Strategy::pread_direct) {
      EXPECT_EQ(o.ran, "pread-direct");
      EXPECT_EQ(o.io_engine, "pread");
      EXPECT_EQ(o.reason, "asked for");
    }
    if ((strategy == Strategy::automatic || strategy == Strategy::pread_direct) && !memory_fs) {
      EXPECT_GT(o.total_pages, 0U);
      EXPECT_EQ(o.resident_after, 0U) << "pages left in the page cache";
    }
  }
}

}  // namespace
}  // namespace ringload
