#include "support/mounted_fs.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

extern char** environ;  // NOLINT(readability-redundant-declaration): posix_spawn's environment

namespace ringload::test {
namespace {

namespace fs = std::filesystem;

Error fail(ErrorKind kind, std::string message, const fs::path& path = {}) {
  Error e = make_error(kind, std::move(message));
  e.path = path.string();
  return e;
}

// A privilege or a driver this machine lacks: the caller skips rather than fails.
ErrorKind kind_of_errno(int err) {
  switch (err) {
    case EPERM:
    case EACCES: return ErrorKind::permission_denied;
    case ENODEV:
    case ENOENT:
    case ENXIO:
    case ENOSYS:
    case ENOTTY: return ErrorKind::unsupported_feature;
    default: return ErrorKind::io;
  }
}

struct FsRecipe {
  std::string_view name;
  std::string_view type;     // mount(2)'s filesystemtype
  std::string_view mkfs;     // empty: no image (tmpfs)
  std::string_view package;  // where mkfs comes from, for the skip reason
  std::vector<std::string> mkfs_args;
  std::string_view data;  // mount(2)'s options
  std::uint64_t min_bytes;
};

const FsRecipe& recipe(FsKind kind) {
  // ext4: inode tables and the journal written by mkfs, not by a lazyinit thread that would write
  // behind the loads. btrfs-zstd: compress-force, since plain compress gives up on a whole file
  // after one chunk that does not shrink; incompressible chunks are still stored as they are.
  static const FsRecipe recipes[] = {
      {"ext4",
       "ext4",
       "mkfs.ext4",
       "e2fsprogs",
       {"-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard"},
       "",
       32ULL << 20},
      {"xfs", "xfs", "mkfs.xfs", "xfsprogs", {"-q", "-f", "-K"}, "", 320ULL << 20},
      {"btrfs", "btrfs", "mkfs.btrfs", "btrfs-progs", {"-q", "-f", "-K"}, "", 128ULL << 20},
      {"btrfs-zstd",
       "btrfs",
       "mkfs.btrfs",
       "btrfs-progs",
       {"-q", "-f", "-K"},
       "compress-force=zstd",
       128ULL << 20},
      {"tmpfs", "tmpfs", "", "", {}, "mode=0755", 0},
  };
  return recipes[static_cast<std::size_t>(kind)];
}

std::optional<fs::path> find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return fs::path(name);
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream in(path);
    for (std::string dir; std::getline(in, dir, ':');) dirs.push_back(dir);
  }
  dirs.insert(dirs.end(), {"/usr/sbin", "/sbin"});  // mkfs lives there; a user's PATH may lack it
  for (const auto& dir : dirs) {
    const fs::path candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::string tail_of(const fs::path& log, std::size_t max_bytes = 600) {
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// The pid in a name made here ("ringload-fs.<pid>.<kind>..."), or 0 for any other name.
pid_t owner_pid(const std::string& file_name) {
  if (file_name.rfind(kMountNamePrefix, 0) != 0) return 0;
  const std::string rest = file_name.substr(kMountNamePrefix.size());
  const auto dot = rest.find('.');
  if (dot == 0 || dot == std::string::npos) return 0;
  pid_t pid = 0;
  for (char c : rest.substr(0, dot)) {
    if (c < '0' || c > '9') return 0;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mount_path(const std::string& field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string oct = field.substr(i + 1, 3);
      if (std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out.push_back(static_cast<char>(std::stoi(oct, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::vector<fs::path> mount_points() {
  std::vector<fs::path> points;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    if (fields >> id >> parent >> dev >> root >> point) points.emplace_back(unescape_mount_path(point));
  }
  return points;
}

// Unmounts, waiting a little for a busy file system (a just-closed file whose last reference the
// kernel drops asynchronously) before detaching it lazily.
void unmount(const fs::path& point) noexcept {
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (::umount2(point.c_str(), 0) == 0 || errno == EINVAL || errno == ENOENT) return;
    if (errno != EBUSY) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (void)::umount2(point.c_str(), MNT_DETACH);
}

struct AttachedLoop {
  UniqueFd fd;
  std::string device;
  bool direct_io = false;
};

// A free loop device bound to `image`, autoclear, reading it with O_DIRECT where the file system
// below takes that. Two processes may be handed the same free device: the loser gets EBUSY and
// asks again.
Result<AttachedLoop> attach_loop(const fs::path& image, const std::string& label) {
  auto control = UniqueFd::open("/dev/loop-control", O_RDWR);
  if (!control) {
    return fail(
        kind_of_errno(ENOENT),
        "cannot open /dev/loop-control (" + control.error().message +
            "): no loop driver in this kernel or container (modprobe loop, or run with --privileged)");
  }
  auto backing = RINGLOAD_TRY(UniqueFd::open(image, O_RDWR));
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int number = ::ioctl(control->get(), LOOP_CTL_GET_FREE);
    if (number < 0) {
      const int err = errno;
      return fail(kind_of_errno(err), fmt::format("LOOP_CTL_GET_FREE failed: {}", std::strerror(err)));
    }
    AttachedLoop loop;
    loop.device = fmt::format("/dev/loop{}", number);
    auto device = UniqueFd::open(loop.device, O_RDWR);
    if (!device) {
      return fail(ErrorKind::unsupported_feature,
                  device.error().message + ": the loop driver made a device this /dev does not show " +
                      "(a container with a static /dev)");
    }
    for (const bool direct : {true, false}) {
      loop_config config{};
      config.fd = static_cast<std::uint32_t>(backing.get());
      config.info.lo_flags =
          std::uint32_t{LO_FLAGS_AUTOCLEAR} | (direct ? std::uint32_t{LO_FLAGS_DIRECT_IO} : 0U);
      std::strncpy(reinterpret_cast<char*>(config.info.lo_file_name), label.c_str(), LO_NAME_SIZE - 1);
      if (::ioctl(device->get(), LOOP_CONFIGURE, &config) == 0) {
        loop.fd = std::move(device).value();
        std::ifstream dio(fmt::format("/sys/block/loop{}/loop/dio", number));
        int dio_on = 0;
        loop.direct_io = (dio >> dio_on) && dio_on == 1;
        return loop;
      }
      if (errno == EBUSY) break;                // taken by someone else: next free device
      if (errno == EINVAL && direct) continue;  // no O_DIRECT below: buffered loop
      const int err = errno;
      return fail(kind_of_errno(err),
                  fmt::format("LOOP_CONFIGURE {} failed: {}", loop.device, std::strerror(err)), image);
    }
  }
  return fail(ErrorKind::io, "no free loop device after 16 tries (others kept taking them)", image);
}

}  // namespace

std::string_view fs_name(FsKind kind) noexcept { return recipe(kind).name; }

std::uint64_t min_image_bytes(FsKind kind) noexcept { return recipe(kind).min_bytes; }

bool mount_refused_here(const Error& error) noexcept {
  return error.kind == ErrorKind::permission_denied || error.kind == ErrorKind::unsupported_feature;
}

Result<int> run_program(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  const auto program = find_program(argv.at(0));
  if (!program)
    return fail(ErrorKind::not_found, argv[0] + " is not installed (looked in PATH, /usr/sbin, /sbin)");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, program->c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return fail(ErrorKind::io, fmt::format("cannot start {}: {}", program->string(), std::strerror(rc)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fail(ErrorKind::io, fmt::format("waitpid: {}", std::strerror(errno)));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result<MountedFs> MountedFs::mount(FsKind kind, const std::filesystem::path& dir, std::uint64_t image_bytes) {
  const FsRecipe& r = recipe(kind);
  if (::geteuid() != 0) {
    return fail(ErrorKind::permission_denied,
                fmt::format("mounting {} needs root (loop devices, mount(2))", r.name));
  }
  const std::string stem = fmt::format("{}{}.{}", kMountNamePrefix, ::getpid(), r.name);
  MountedFs m;
  m.kind_ = kind;
  m.mount_point_ = dir / (stem + ".mnt");
  std::error_code ec;
  fs::create_directories(m.mount_point_, ec);
  if (ec) return fail(ErrorKind::io, "cannot create the mount point: " + ec.message(), m.mount_point_);

  std::string data(r.data);
  if (r.mkfs.empty()) {
    data += fmt::format(",size={}", std::max<std::uint64_t>(image_bytes, 1ULL << 20));
    m.device_ = "tmpfs";
  } else {
    m.image_ = dir / (stem + ".img");
    {
      auto image = RINGLOAD_TRY(UniqueFd::open(m.image_, O_RDWR | O_CREAT | O_TRUNC));
      if (::ftruncate(image.get(), static_cast<off_t>(std::max(image_bytes, r.min_bytes))) != 0) {
        return fail(ErrorKind::io, fmt::format("ftruncate: {}", std::strerror(errno)), m.image_);
      }
    }
    const fs::path log = dir / (stem + ".mkfs.log");
    std::vector<std::string> argv{std::string(r.mkfs)};
    argv.insert(argv.end(), r.mkfs_args.begin(), r.mkfs_args.end());
    argv.push_back(m.image_.string());
    auto status = run_program(argv, log);
    if (!status) {
      Error e = std::move(status).error();
      if (e.kind == ErrorKind::not_found) {
        e.kind = ErrorKind::unsupported_feature;
        e.message += fmt::format(" (Debian package {})", r.package);
      }
      return e;
    }
    if (*status != 0) {
      return fail(ErrorKind::io, fmt::format("{} exited with {}: {}", r.mkfs, *status, tail_of(log)),
                  m.image_);
    }
    fs::remove(log, ec);
    AttachedLoop loop = RINGLOAD_TRY(attach_loop(m.image_, stem));
    m.loop_ = std::move(loop.fd);
    m.device_ = loop.device;
    m.loop_direct_io_ = loop.direct_io;
  }
  // mount(2) itself, not mount(8): nothing else (udisks, fstab, helpers) gets involved.
  const std::string source = r.mkfs.empty() ? std::string("tmpfs") : m.device_;
  if (::mount(source.c_str(), m.mount_point_.c_str(), std::string(r.type).c_str(), 0,
              data.empty() ? nullptr : data.c_str()) != 0) {
    const int err = errno;
    return fail(kind_of_errno(err),
                fmt::format("mount -t {} -o '{}' {}: {}{}", r.type, data, source, std::strerror(err),
                            err == ENODEV ? " (the kernel has no such file system)" : ""),
                m.mount_point_);
  }
  m.mounted_ = true;
  m.options_ = data;
  return m;
}

MountedFs::MountedFs(MountedFs&& other) noexcept
    : kind_(other.kind_),
      image_(std::move(other.image_)),
      mount_point_(std::move(other.mount_point_)),
      device_(std::move(other.device_)),
      options_(std::move(other.options_)),
      loop_(std::move(other.loop_)),
      mounted_(std::exchange(other.mounted_, false)),
      loop_direct_io_(other.loop_direct_io_) {
  other.image_.clear();
  other.mount_point_.clear();
}

MountedFs::~MountedFs() { tear_down(); }

void MountedFs::tear_down() noexcept {
  if (mounted_) unmount(mount_point_);
  mounted_ = false;
  loop_ = UniqueFd();  // the last opener: AUTOCLEAR detaches the device
  std::error_code ec;
  if (!mount_point_.empty()) fs::remove(mount_point_, ec);
  if (!image_.empty()) fs::remove(image_, ec);
}

std::vector<std::string> remove_stale_mounts(const std::filesystem::path& scan_root) {
  std::vector<std::string> removed;
  std::error_code ec;
  // Deepest first: a stale mount inside another stale mount goes before its parent.
  auto points = mount_points();
  std::sort(points.begin(), points.end(),
            [](const fs::path& a, const fs::path& b) { return a.string().size() > b.string().size(); });
  for (const auto& point : points) {
    const pid_t pid = owner_pid(point.filename().string());
    if (pid == 0 || process_alive(pid)) continue;
    (void)::umount2(point.c_str(), MNT_DETACH);
    fs::remove(point, ec);
    removed.push_back(fmt::format("unmounted {} (pid {} is gone)", point.string(), pid));
  }
  for (const auto& entry : fs::directory_iterator("/sys/block", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("loop", 0) != 0) continue;
    std::ifstream in(entry.path() / "loop" / "backing_file");
    std::string backing;
    if (!std::getline(in, backing)) continue;  // not attached
    const std::string deleted = " (deleted)";
    if (backing.size() > deleted.size() && backing.ends_with(deleted))
      backing.resize(backing.size() - deleted.size());
    const pid_t pid = owner_pid(fs::path(backing).filename().string());
    if (pid == 0 || process_alive(pid)) continue;
    if (auto device = UniqueFd::open("/dev/" + name, O_RDWR);
        device && ::ioctl(device->get(), LOOP_CLR_FD) == 0) {
      removed.push_back(fmt::format("detached /dev/{} from {} (pid {} is gone)", name, backing, pid));
    }
    if (fs::remove(backing, ec)) removed.push_back("removed " + backing);
  }
  // Images, logs and mount points of dead runs under the temp root (in their test's directory).
  std::vector<fs::path> leftovers;
  for (auto it = fs::recursive_directory_iterator(scan_root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() >= 1) it.disable_recursion_pending();
    const pid_t pid = owner_pid(it->path().filename().string());
    if (pid != 0 && !process_alive(pid)) leftovers.push_back(it->path());
  }
  for (const auto& path : leftovers) {
    // remove, not remove_all: a mount point that is somehow still mounted must not be emptied.
    if (fs::remove(path, ec)) removed.push_back("removed " + path.string());
  }
  return removed;
}

}  // namespace ringload::test
