#include "gen/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "base/utf8.hpp"

namespace ringload::gen {

Result<void> ByteSink::write_zeros(std::uint64_t count) {
  static constexpr std::byte kZeros[4096] = {};
  while (count > 0) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(count, sizeof kZeros));
    RINGLOAD_TRY_VOID(write(std::span(kZeros, take)));
    count -= take;
  }
  return {};
}

Result<OutputFile> OutputFile::create(const std::filesystem::path& target, std::size_t buffer_bytes) {
  if (target.filename().empty()) {
    Error e = make_error(ErrorKind::invalid_argument, "the output path names no file");
    e.path = target.string();
    return e;
  }
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  // A hidden name in the same directory: rename(2) is atomic only within one file system.
  std::string pattern = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  int fd = -1;
  do {
    fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return sys_error(errno, "cannot create a temporary file beside the output", target.string());
  UniqueFd owned(fd);
  // mkostemp creates 0600; a generated model should be readable like any other file.
  if (::fchmod(owned.get(), 0644) != 0) {
    const int err = errno;
    ::unlink(pattern.c_str());
    return sys_error(err, "cannot set the temporary file's mode", pattern);
  }
  return OutputFile(std::move(owned), pattern, target, std::max<std::size_t>(buffer_bytes, 4096));
}

OutputFile::OutputFile(UniqueFd fd, std::filesystem::path temp, std::filesystem::path target,
                       std::size_t buffer_bytes)
    : fd_(std::move(fd)), temp_(std::move(temp)), target_(std::move(target)) {
  buffer_.reserve(buffer_bytes);
}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : fd_(std::move(other.fd_)),
      temp_(std::exchange(other.temp_, {})),
      target_(std::move(other.target_)),
      buffer_(std::move(other.buffer_)),
      bytes_written_(other.bytes_written_) {}

OutputFile& OutputFile::operator=(OutputFile&& other) noexcept {
  if (this != &other) {
    discard();
    fd_ = std::move(other.fd_);
    temp_ = std::exchange(other.temp_, {});
    target_ = std::move(other.target_);
    buffer_ = std::move(other.buffer_);
    bytes_written_ = other.bytes_written_;
  }
  return *this;
}

OutputFile::~OutputFile() { discard(); }

void OutputFile::discard() noexcept {
  if (temp_.empty()) return;
  fd_ = UniqueFd();
  ::unlink(temp_.c_str());
  temp_.clear();
}

Result<void> OutputFile::flush() {
  if (buffer_.empty()) return {};
  RINGLOAD_TRY_VOID(write_all(fd_.get(), buffer_, temp_.string()));
  buffer_.clear();
  return {};
}

Result<void> OutputFile::write(std::span<const std::byte> bytes) {
  if (temp_.empty()) return make_error(ErrorKind::invalid_argument, "write after commit");
  bytes_written_ += bytes.size();
  const std::size_t capacity = buffer_.capacity();
  while (!bytes.empty()) {
    // A whole buffer's worth with nothing pending goes straight to the file: no copy.
    if (buffer_.empty() && bytes.size() >= capacity) {
      RINGLOAD_TRY_VOID(write_all(fd_.get(), bytes, temp_.string()));
      return {};
    }
    const std::size_t take = std::min(bytes.size(), capacity - buffer_.size());
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    if (buffer_.size() == capacity) RINGLOAD_TRY_VOID(flush());
  }
  return {};
}

Result<void> OutputFile::commit() {
  if (temp_.empty()) return make_error(ErrorKind::invalid_argument, "commit after commit");
  RINGLOAD_TRY_VOID(flush());
  // Closed unchecked: write(2) already reported every error a local file system gives.
  fd_ = UniqueFd();
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    discard();
    return sys_error(err, "cannot rename the finished file into place", target_.string());
  }
  temp_.clear();
  return {};
}

void ProgressMeter::add(std::uint64_t bytes) {
  done_bytes_ += bytes;
  if (done_bytes_ >= next_report_ && callback_) {
    callback_(done_bytes_, total_bytes_);
    next_report_ = done_bytes_ + kStepBytes;
  }
}

void ProgressMeter::finish() {
  if (callback_) callback_(done_bytes_, total_bytes_);
}

Result<void> write_tensor_data(ByteSink& sink, std::uint64_t key, DType dtype, std::uint64_t size,
                               std::span<std::byte> scratch, ProgressMeter& progress) {
  for (std::uint64_t position = 0; position < size;) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(size - position, scratch.size()));
    const std::span<std::byte> chunk = scratch.first(take);
    fill_tensor_values(key, dtype, position, chunk);
    RINGLOAD_TRY_VOID(sink.write(chunk));
    position += take;
    progress.add(take);
  }
  return {};
}

namespace {

Error bad_spec(const TensorSpec& tensor, std::string message) {
  return make_error(ErrorKind::invalid_argument, std::move(message), std::nullopt, tensor.name);
}

}  // namespace

Result<void> check_tensor_specs(Format format, std::span<const TensorSpec> tensors) {
  std::set<std::string_view> names;
  for (const TensorSpec& t : tensors) {
    if (t.name.empty()) return bad_spec(t, "a tensor has an empty name");
    if (first_invalid_utf8(t.name)) return bad_spec(t, "tensor name is not valid UTF-8");
    if (!names.insert(t.name).second) return bad_spec(t, "two tensors have this name");
    if (!format_supports_dtype(format, t.dtype)) {
      return bad_spec(t,
                      fmt::format("dtype {} cannot be stored in {}", dtype_name(t.dtype), to_string(format)));
    }
    const auto elements = element_count(t.shape);
    const auto expected =
        elements ? dtype_byte_size(t.dtype, *elements, block_rounding(format)) : std::nullopt;
    if (!expected) {
      return bad_spec(t, fmt::format("shape does not give a whole number of {} blocks (or overflows)",
                                     dtype_name(t.dtype)));
    }
    if (*expected != t.size) {
      return bad_spec(t, fmt::format("size is {} bytes but {} x shape is {} bytes", t.size,
                                     dtype_name(t.dtype), *expected));
    }
  }
  return {};
}

}  // namespace ringload::gen
