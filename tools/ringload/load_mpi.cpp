// `ringload load --mpi` with Open MPI: MPI is initialised for the command's lifetime, the load runs
// through an MpiGroup over MPI_COMM_WORLD, and each rank prints its own report.
#include <mpi.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "base/json.hpp"
#include "collective/collective_load.hpp"
#include "collective/status_record.hpp"
#include "commands.hpp"
#include "load_mpi.hpp"
#include "load_report_json.hpp"
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
  char kind[16] = {};
  if (std::sscanf(spec, "%u:%15s", &faulty, kind) != 2 || faulty != rank) return;
  if (std::string_view(kind) == "read") {
    engine.fault = [](std::uint64_t, std::uint64_t) -> std::int64_t { return -EIO; };
  } else if (std::string_view(kind) == "cancel") {
    engine.fault = [token = options.cancel](std::uint64_t, std::uint64_t) -> std::int64_t {
      token.cancel();
      return 0;
    };
  }
}

int report_failure(const Error& e, std::uint32_t rank, std::uint32_t world, bool json) {
  fmt::print(stderr, "ringload load: rank {} of {}: {}\n", rank, world, e.to_string());
  if (json) {
    const nlohmann::ordered_json j{{"rank", rank},
                                   {"world", world},
                                   {"error", e.to_string()},
                                   {"error_kind", std::string(to_string(e.kind))}};
    fmt::print("{}\n", dump_json(j, 2));
  }
  return e.kind == ErrorKind::io || e.kind == ErrorKind::cancelled || e.kind == ErrorKind::out_of_memory
             ? kExitFailure
             : kExitBadInput;
}

}  // namespace

int run_mpi_load(MpiLoadArgs args) {
  const MpiSession session;
  if (!session.ok()) {
    fmt::print(stderr, "ringload load: --mpi: MPI_Init_thread failed (run under mpirun)\n");
    return kExitFailure;
  }
  auto group = MpiGroup::create(MPI_COMM_WORLD);
  if (!group) return report_failure(group.error(), 0, 1, args.json);
  const std::uint32_t rank = group->rank();
  const std::uint32_t world = group->world();
  if ((args.rank && *args.rank != rank) || (args.world && *args.world != world)) {
    return report_failure(
        make_error(ErrorKind::invalid_argument,
                   fmt::format("--rank/--world say {}/{}, MPI says rank {} of {}: under "
                               "--mpi leave them out",
                               args.rank.value_or(rank), args.world.value_or(world), rank, world)),
        rank, world, args.json);
  }
  auto checkpoint = Checkpoint::open(args.path);
  if (!checkpoint) {
    // The other ranks wait in the load's first status exchange: this one ends it for them.
    const Error& e = checkpoint.error();
    (void)group->exchange_status(failed_status(e));
    return report_failure(e, rank, world, args.json);
  }
  LoadEngine engine;
  inject_test_fault(engine, args.options, rank);
  CollectiveOptions collective;
  if (args.round_bytes > 0) collective.round_bytes = args.round_bytes;
  auto report = load_collective(engine, *checkpoint, *args.sink, args.options, *group, collective);
  if (!report) return report_failure(report.error(), rank, world, args.json);
  if (args.json) {
    fmt::print("{}\n", dump_json(report_json(*report, args.options.checksum_sha256), 2));
  } else {
    const LoadReport& r = *report;
    fmt::print(
        "rank {} of {}: {} -> {}: {} in {} ({:.2f} GB/s); read from storage {}, received {}, "
        "collective busy {}, {} rounds\n",
        rank, world, r.path, r.sink, format_bytes(r.bytes), format_seconds(r.wall_s), r.gb_per_s,
        format_bytes(r.storage_bytes_read), format_bytes(r.collective->bytes_received),
        format_seconds(r.collective->busy_s), r.collective->rounds);
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace ringload::cli
