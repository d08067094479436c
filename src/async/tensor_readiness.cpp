// TensorReadiness: tensors delivered so far and the waiters for the rest, behind one mutex (the
// io thread adds tensors, any thread adds waiters). Waiters are completed outside the lock.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "ringload/async.hpp"

namespace ringload {
namespace {

// A failed wait: the code of the error's kind, and the Error itself for the handler.
struct Failure {
  boost::system::error_code ec;
  ReadyTensor tensor;
};

Failure failed_wait(Error error) {
  Failure f{make_error_code(error), {}};
  f.tensor.error = std::move(error);
  return f;
}

Failure never_delivered(const std::string& name) {
  return failed_wait(make_error(ErrorKind::not_found,
                                "the load ended without this tensor (not in the file, or not selected)",
                                std::nullopt, name));
}

Failure wait_cancelled(const std::string& name) {
  return failed_wait(
      make_error(ErrorKind::cancelled, "the wait was cancelled; the load goes on", std::nullopt, name));
}

}  // namespace

std::shared_ptr<TensorReadiness> TensorReadiness::create(executor_type executor) {
  return std::make_shared<TensorReadiness>(std::move(executor));
}

void TensorReadiness::watch(PipelineOptions& options) {
  // The hooks hold the object: the load may outlive every other owner.
  options.on_tensor_ready = [self = shared_from_this(), chained = std::move(options.on_tensor_ready)](
                                const TensorInfo& info, const Destination& destination) {
    if (chained) chained(info, destination);
    self->on_ready(info, destination);
  };
  options.on_finished = [self = shared_from_this(),
                         chained = std::move(options.on_finished)](const Error* failure) {
    if (chained) chained(failure);
    self->on_finished(failure);
  };
}

std::optional<ReadyTensor> TensorReadiness::ready(std::string_view name) const {
  const std::lock_guard lock(mutex_);
  if (auto it = ready_.find(name); it != ready_.end()) return it->second;
  return std::nullopt;
}

std::uint64_t TensorReadiness::add_waiter(std::string name, Waiter complete) {
  std::unique_lock lock(mutex_);
  if (auto it = ready_.find(name); it != ready_.end()) {
    ReadyTensor tensor = it->second;
    lock.unlock();
    complete({}, std::move(tensor));
    return 0;
  }
  if (finished_) {
    Failure f = finished_with_ ? failed_wait(*finished_with_) : never_delivered(name);
    lock.unlock();
    complete(f.ec, std::move(f.tensor));
    return 0;
  }
  const std::uint64_t id = next_waiter_id_++;
  waiters_.emplace(std::move(name), PendingWait{id, std::move(complete)});
  return id;
}

void TensorReadiness::cancel_waiter(std::uint64_t id) {
  Waiter cancelled;
  std::string name;
  {
    const std::lock_guard lock(mutex_);
    const auto it =
        std::find_if(waiters_.begin(), waiters_.end(), [id](const auto& w) { return w.second.id == id; });
    if (it == waiters_.end()) return;  // completed already
    cancelled = std::move(it->second.complete);
    name = it->first;
    waiters_.erase(it);
  }
  Failure f = wait_cancelled(name);
  cancelled(f.ec, std::move(f.tensor));
}

void TensorReadiness::on_ready(const TensorInfo& info, const Destination& destination) {
  std::vector<Waiter> woken;
  ReadyTensor tensor{info, destination, std::nullopt};
  {
    const std::lock_guard lock(mutex_);
    ready_.insert_or_assign(info.name, tensor);
    auto [first, last] = waiters_.equal_range(info.name);
    for (auto it = first; it != last; ++it) woken.push_back(std::move(it->second.complete));
    waiters_.erase(first, last);
  }
  for (auto& complete : woken) complete({}, tensor);
}

void TensorReadiness::on_finished(const Error* failure) {
  std::multimap<std::string, PendingWait, std::less<>> left;
  {
    const std::lock_guard lock(mutex_);
    finished_ = true;
    if (failure != nullptr) finished_with_ = *failure;
    left.swap(waiters_);
  }
  for (auto& [name, wait] : left) {
    Failure f = failure != nullptr ? failed_wait(*failure) : never_delivered(name);
    wait.complete(f.ec, std::move(f.tensor));
  }
}

}  // namespace ringload
