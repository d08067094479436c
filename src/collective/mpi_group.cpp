#include "ringload/mpi_group.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "collective/status_record.hpp"

namespace ringload {
namespace {

Error mpi_error(int code, std::string_view what) {
  std::array<char, MPI_MAX_ERROR_STRING> text{};
  int length = 0;
  if (MPI_Error_string(code, text.data(), &length) != MPI_SUCCESS) length = 0;
  return make_error(ErrorKind::io, fmt::format("{} failed: {}", what, std::string_view(text.data(), length)));
}

}  // namespace

Result<MpiGroup> MpiGroup::create(MPI_Comm comm) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised == 0) {
    return make_error(ErrorKind::invalid_argument, "MPI is not initialised: call MPI_Init_thread first");
  }
  MPI_Comm dup = MPI_COMM_NULL;
  if (int rc = MPI_Comm_dup(comm, &dup); rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Comm_dup");
  MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(dup, &rank);
  MPI_Comm_size(dup, &size);
  return MpiGroup(dup, static_cast<std::uint32_t>(rank), static_cast<std::uint32_t>(size));
}

MpiGroup::MpiGroup(MpiGroup&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      rank_(other.rank_),
      world_(other.world_),
      pending_(std::move(other.pending_)) {}

MpiGroup& MpiGroup::operator=(MpiGroup&& other) noexcept {
  if (this != &other) {
    free();
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    world_ = other.world_;
    pending_ = std::move(other.pending_);
  }
  return *this;
}

MpiGroup::~MpiGroup() { free(); }

void MpiGroup::free() noexcept {
  if (comm_ == MPI_COMM_NULL) return;
  // Requests still pending belong to a load that failed between start and wait: complete them
  // first, as MPI requires before the communicator goes.
  if (!pending_.empty()) MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized == 0) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
}

Result<std::vector<RankStatus>> MpiGroup::exchange_status(const RankStatus& mine) {
  const StatusRecord record = encode_status(mine);
  std::vector<char> all(kStatusRecordBytes * world_);
  if (int rc = MPI_Allgather(record.data(), kStatusRecordBytes, MPI_BYTE, all.data(), kStatusRecordBytes,
                             MPI_BYTE, comm_);
      rc != MPI_SUCCESS) {
    return mpi_error(rc, "MPI_Allgather of the ranks' status");
  }
  std::vector<RankStatus> statuses;
  for (std::uint32_t r = 0; r < world_; ++r)
    statuses.push_back(decode_status(all.data() + r * kStatusRecordBytes));
  return statuses;
}

Result<void> MpiGroup::start_broadcast(void* data, std::uint64_t bytes, std::uint32_t root) {
  // MPI counts are ints: a tensor past 2 GiB goes in 1 GiB pieces. Each request lives in pending_
  // from the start, so wait_broadcasts() (or free()) completes it whatever happens after.
  constexpr std::uint64_t kPiece = 1ULL << 30;
  auto* at = static_cast<std::byte*>(data);
  for (std::uint64_t done = 0; done < bytes; done += kPiece) {
    const auto count = static_cast<int>(std::min(kPiece, bytes - done));
    pending_.push_back(MPI_REQUEST_NULL);
    if (int rc = MPI_Ibcast(at + done, count, MPI_BYTE, static_cast<int>(root), comm_, &pending_.back());
        rc != MPI_SUCCESS) {
      return mpi_error(rc, "MPI_Ibcast");
    }
  }
  return {};
}

Result<void> MpiGroup::wait_broadcasts() {
  const int rc = MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
  if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Waitall of the broadcasts");  // still pending: abort()
  pending_.clear();
  return {};
}

void MpiGroup::abort(const Error& why) noexcept {
  (void)std::fprintf(stderr, "ringload: rank %u of %u: the MPI group failed (%s): aborting every rank\n",
                     rank_, world_, why.to_string().c_str());
  (void)std::fflush(stderr);
  MPI_Abort(comm_, 1);
}

}  // namespace ringload
