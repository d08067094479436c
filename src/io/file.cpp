#include "io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "base/utf8.hpp"

namespace ringload {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<UniqueFd> UniqueFd::open(const std::filesystem::path& path, int flags, int mode) {
  int fd = -1;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return sys_error(errno, "cannot open", path.string());
  return UniqueFd(fd);
}

Result<std::uint64_t> file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return sys_error(errno, "fstat failed", path);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    Error e = make_error(ErrorKind::invalid_argument, "not a regular file");
    e.path = escape_invalid_utf8(path);  // error text is UTF-8, paths need not be
    return e;
  }
  return static_cast<std::uint64_t>(st.st_size);
}

Result<void> pread_exact(int fd, std::span<std::byte> out, std::uint64_t offset, const std::string& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(errno, "read failed", path, offset + done);
    }
    if (n == 0) {
      Error e = make_error(ErrorKind::truncated,
                           fmt::format("file ended while {} more bytes were expected", out.size() - done),
                           offset + done);
      e.path = escape_invalid_utf8(path);  // error text is UTF-8, paths need not be
      return e;
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<std::vector<std::byte>> read_file(const std::filesystem::path& path) {
  auto fd = RINGLOAD_TRY(UniqueFd::open(path, O_RDONLY));
  const std::uint64_t size = RINGLOAD_TRY(file_size(fd.get(), path.string()));
  std::vector<std::byte> bytes(size);
  RINGLOAD_TRY_VOID(pread_exact(fd.get(), bytes, 0, path.string()));
  return bytes;
}

Result<void> write_all(int fd, std::span<const std::byte> bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(errno, "write failed", path);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace ringload
