// A Collective for tests: W ranks as W threads of one process, sharing one ThreadGroupHub. Status
// exchange and broadcasts follow MPI's rules (every rank calls the same operations in the same
// order; a broadcast's bytes land by the matching wait), so the collective load's protocol is
// tested without mpirun. A rank that skips an operation the others make hangs them, as it would
// under MPI: the tests run with a timeout.
#pragma once

#include <barrier>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ringload/collective.hpp"

namespace ringload::test {

struct ThreadGroupHub {
  explicit ThreadGroupHub(std::uint32_t world)
      : world(world), barrier(static_cast<std::ptrdiff_t>(world)), statuses(world), posted(world) {}
  struct Post {
    void* data = nullptr;
    std::uint64_t bytes = 0;
    std::uint32_t root = 0;
  };
  std::uint32_t world;
  std::barrier<> barrier;
  std::vector<RankStatus> statuses;
  std::vector<std::vector<Post>> posted;  // per rank: its broadcasts since the last wait
};

class ThreadGroup final : public Collective {
 public:
  ThreadGroup(ThreadGroupHub& hub, std::uint32_t rank) : hub_(hub), rank_(rank) {}

  [[nodiscard]] std::uint32_t rank() const noexcept override { return rank_; }
  [[nodiscard]] std::uint32_t world() const noexcept override { return hub_.world; }
  [[nodiscard]] bool device_buffers() const noexcept override { return false; }
  Result<std::vector<RankStatus>> exchange_status(const RankStatus& mine) override {
    hub_.statuses[rank_] = mine;
    hub_.barrier.arrive_and_wait();
    std::vector<RankStatus> all = hub_.statuses;
    hub_.barrier.arrive_and_wait();  // nobody overwrites a status before everyone read them
    return all;
  }
  Result<void> start_broadcast(void* data, std::uint64_t bytes, std::uint32_t root) override {
    hub_.posted[rank_].push_back({data, bytes, root});
    return {};
  }
  Result<void> wait_broadcasts() override {
    hub_.barrier.arrive_and_wait();  // every rank has posted this batch
    std::vector<ThreadGroupHub::Post>& mine = hub_.posted[rank_];
    for (std::size_t k = 0; k < mine.size(); ++k) {
      const ThreadGroupHub::Post& from = hub_.posted[mine[k].root][k];
      if (mine[k].root != rank_ && mine[k].bytes > 0) std::memcpy(mine[k].data, from.data, mine[k].bytes);
      bytes_copied_ += mine[k].root != rank_ ? mine[k].bytes : 0;
    }
    hub_.barrier.arrive_and_wait();  // every copy is done before a root may reuse its bytes
    mine.clear();
    return {};
  }
  // Its transfers are memcpy and cannot fail: nothing to abort.
  void abort(const Error& /*why*/) noexcept override {}
  [[nodiscard]] std::uint64_t bytes_copied() const noexcept { return bytes_copied_; }

 private:
  ThreadGroupHub& hub_;
  std::uint32_t rank_;
  std::uint64_t bytes_copied_ = 0;
};

}  // namespace ringload::test
