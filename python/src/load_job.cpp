#include "load_job.hpp"

#include <utility>

namespace ringload::python {

bool LoadJob::wait_finished_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return finished_; });
}

std::pair<LoadJob::Next, std::uint32_t> LoadJob::next_ready_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return !ready_.empty() || finished_; });
  if (!ready_.empty()) {
    const std::uint32_t index = ready_.front();
    ready_.pop_front();
    return {Next::tensor, index};
  }
  return {finished_ ? Next::end : Next::timeout, 0};
}

LoadProgress LoadJob::progress() const {
  const std::scoped_lock lock(mutex_);
  return progress_;
}

bool LoadJob::finished() const {
  const std::scoped_lock lock(mutex_);
  return finished_;
}

std::optional<LoadReport> LoadJob::report() const {
  const std::scoped_lock lock(mutex_);
  return report_;
}

std::optional<Error> LoadJob::error() const {
  const std::scoped_lock lock(mutex_);
  return error_;
}

std::shared_ptr<TensorBlock> LoadJob::block() const {
  const std::scoped_lock lock(mutex_);
  return block_;
}

PipelineOptions LoadJob::pipeline_options(const LoadSettings& settings) {
  PipelineOptions options;
  options.strategy = settings.strategy;
  options.checksum_sha256 = settings.checksum_sha256;
  options.release = settings.release;
  options.tensor_names = settings.tensor_names;
  options.cancel = cancel_;
  options.on_tensor_ready = [this](const TensorInfo& /*info*/, const Destination& /*destination*/) {
    {
      const std::scoped_lock lock(mutex_);
      ready_.push_back(ready_count_++);
    }
    changed_.notify_all();
  };
  options.on_progress = [this](const LoadProgress& progress) {
    const std::scoped_lock lock(mutex_);
    progress_ = progress;
  };
  return options;
}

void LoadJob::finish(Result<LoadReport> result) {
  std::shared_ptr<TensorBlock> dropped;
  {
    const std::scoped_lock lock(mutex_);
    if (result) {
      progress_.bytes_done = progress_.bytes_total = result->bytes;
      progress_.tensors_done = progress_.tensors_total = result->tensors;
      progress_.seconds = result->wall_s;
      report_ = std::move(result).value();
    } else {
      error_ = std::move(result).error();
      dropped = std::move(block_);
      ready_.clear();
    }
  }
  dropped.reset();  // outside the lock: unmapping a large block takes a while
  {
    const std::scoped_lock lock(mutex_);
    finished_ = true;
  }
  changed_.notify_all();
}

}  // namespace ringload::python
