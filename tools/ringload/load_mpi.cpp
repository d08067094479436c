// `ringload load --mpi` with Open MPI: MPI is initialised for the command's lifetime, the load runs
// through an MpiGroup over MPI_COMM_WORLD, and each rank prints its own report.
#include <mpi.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "base/json.hpp"
#include "collective/collective_load.hpp"
#include "collective/status_record.hpp"
#include "commands.hpp"
#include "load_mpi.hpp"
#include "load_report_json.hpp"
#include "ringload/memstat.hpp"
#include "ringload/mpi_group.hpp"
#include "units.hpp"

namespace ringload::cli {
namespace {

// MPI_Init_thread for the command's lifetime (FUNNELED: only this thread calls MPI; the loads run
// on a worker thread). MPI_Finalize at the end, unless MPI was initialised already.
class MpiSession {
 public:
  MpiSession() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised != 0) return;
    int provided = 0;
    ok_ = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS;
    owned_ = ok_;
    ok_ = ok_ && provided >= MPI_THREAD_FUNNELED;
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    if (owned_) MPI_Finalize();
  }
  [[nodiscard]] bool ok() const noexcept { return ok_; }

 private:
  bool ok_ = true;
  bool owned_ = false;
};

// Test-only hook, named in the docs: RINGLOAD_TEST_MPI_FAULT="RANK:read" fails every read of that
// rank with EIO (through the pipeline's fault injector); "RANK:cancel" cancels that rank's load at
// its first read. Lets the tests fail one rank of a real mpirun job.
void inject_test_fault(LoadEngine& engine, PipelineOptions& options, std::uint32_t rank) {
  const char* spec = std::getenv("RINGLOAD_TEST_MPI_FAULT");
  if (spec == nullptr) return;
  unsigned faulty = 0;
  std::array<char, 16> kind{};
  if (std::sscanf(spec, "%u:%15s", &faulty, kind.data()) != 2 || faulty != rank) return;
  if (std::string_view(kind.data()) == "read") {
    engine.fault = [](std::uint64_t, std::uint64_t) -> std::int64_t { return -EIO; };
  } else if (std::string_view(kind.data()) == "cancel") {
    engine.fault = [token = options.cancel](std::uint64_t, std::uint64_t) -> std::int64_t {
      token.cancel();
      return 0;
    };
  }
}

// This rank's one report of a failure: stderr, and with --json the same keys a success has.
int report_failure(const Error& e, std::uint32_t rank, std::uint32_t world, bool json,
                   const StorageReadMeter& storage_read) {
  fmt::print(stderr, "ringload load: rank {} of {}: {}\n", rank, world, e.to_string());
  if (json) {
    const nlohmann::ordered_json j{{"rank", rank},
                                   {"world", world},
                                   {"error", e.to_string()},
                                   {"error_kind", std::string(to_string(e.kind))},
                                   {"storage_bytes_read", storage_read.bytes()},
                                   {"bytes_received", 0},
                                   {"collective_busy_s", 0.0}};
    fmt::print("{}\n", dump_json(j, 2));
  }
  (void)std::fflush(stdout);
  return load_exit_code(e);
}

// Everything this rank must have before the load; an error is told to the group (the other ranks
// wait in the load's first status exchange) and reported.
Result<std::unique_ptr<Sink>> prepare_rank(MpiLoadArgs& args, std::uint32_t rank, std::uint32_t world) {
  if (args.invalid) return *args.invalid;
  if ((args.rank && *args.rank != rank) || (args.world && *args.world != world)) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("--rank/--world say {}/{}, MPI says rank {} of {}: under --mpi leave them out",
                    args.rank.value_or(rank), args.world.value_or(world), rank, world));
  }
  return args.make_sink();
}

void print_text(const LoadReport& r) {
  fmt::print(
      "rank {} of {}: {} -> {}: {} in {} ({:.2f} GB/s); read from storage {}, received {}, "
      "collective busy {}, {} rounds\n",
      r.collective->rank, r.collective->world, r.path, r.sink, format_bytes(r.bytes),
      format_seconds(r.wall_s), r.gb_per_s, format_bytes(r.storage_bytes_read),
      format_bytes(r.collective->bytes_received), format_seconds(r.collective->busy_s), r.collective->rounds);
}

}  // namespace

int run_mpi_load(MpiLoadArgs args) {
  const StorageReadMeter storage_read;
  const MpiSession session;
  if (!session.ok()) {
    return report_failure(make_error(ErrorKind::io, "--mpi: MPI_Init_thread failed (run it under mpirun)"), 0,
                          1, args.json, storage_read);
  }
  auto group = MpiGroup::create(MPI_COMM_WORLD);
  if (!group) {
    int rank = 0;
    int world = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    return report_failure(group.error(), static_cast<std::uint32_t>(rank), static_cast<std::uint32_t>(world),
                          args.json, storage_read);
  }
  const std::uint32_t rank = group->rank();
  const std::uint32_t world = group->world();
  auto sink = prepare_rank(args, rank, world);
  std::optional<Checkpoint> checkpoint;
  if (sink) {
    auto opened = Checkpoint::open(args.path);
    if (opened) {
      checkpoint.emplace(std::move(opened).value());
    } else {
      sink = std::move(opened).error();
    }
  }
  if (!sink) {
    (void)group->exchange_status(failed_status(sink.error()));  // ends the others' first exchange
    return report_failure(sink.error(), rank, world, args.json, storage_read);
  }
  LoadEngine engine;
  inject_test_fault(engine, args.options, rank);
  CollectiveOptions collective;
  if (args.round_bytes > 0) collective.round_bytes = args.round_bytes;
  auto report = load_collective(engine, *checkpoint, **sink, args.options, *group, collective);
  if (!report) return report_failure(report.error(), rank, world, args.json, storage_read);
  if (args.json) {
    fmt::print("{}\n", dump_json(report_json(*report, args.options.checksum_sha256), 2));
  } else {
    print_text(*report);
  }
  (void)std::fflush(stdout);
  return kExitOk;
}

}  // namespace ringload::cli
