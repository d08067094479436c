#include "bench_zram.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/swap.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "io/mapping.hpp"

namespace ringload::cli::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kControl = "/sys/class/zram-control";
constexpr int kSwapPriority = 32767;  // above any disk swap: the bench measures zram

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// sysfs attributes take one write(2) each.
Result<void> write_attribute(const fs::path& file, const std::string& value) {
  auto fd = RINGLOAD_TRY(UniqueFd::open(file, O_WRONLY));
  if (::write(fd.get(), value.data(), value.size()) < 0)
    return sys_error(errno, fmt::format("cannot write '{}'", value), file.string());
  return {};
}

bool listed_in_proc_swaps(const fs::path& device) {
  std::istringstream swaps(read_text("/proc/swaps"));
  for (std::string name, rest; swaps >> name && std::getline(swaps, rest);)
    if (name == device.string()) return true;
  return false;
}

std::uint64_t disksize_of(const fs::path& sysfs_dir) {
  return std::strtoull(read_text(sysfs_dir / "disksize").c_str(), nullptr, 10);
}

// One lock for every ringload bench on the machine: two of them must not pick the same device.
Result<UniqueFd> lock_zram(const std::function<bool()>& interrupted) {
  const fs::path path = fs::exists("/run/lock") ? "/run/lock/ringload-zram.lock" : "/tmp/ringload-zram.lock";
  auto fd = RINGLOAD_TRY(UniqueFd::open(path, O_RDWR | O_CREAT, 0600));
  bool said = false;
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return sys_error(errno, "cannot lock", path.string());
    if (!said) {
      fmt::print(stderr, "ringload bench: waiting for another ringload bench to give zram back ({})\n",
                 path.string());
      said = true;
    }
    if (interrupted && interrupted())
      return make_error(ErrorKind::cancelled, "interrupted while waiting for zram");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return fd;
}

Result<void> injected(const ZramSwapOptions& options, std::string_view step) {
  if (options.fail_before_step == step)
    return make_error(ErrorKind::io, fmt::format("injected failure before {} (test)", step));
  return {};
}

}  // namespace

std::string zram_unavailable_reason() {
  if (::geteuid() != 0)
    return "--zram needs root: it configures /sys/block/zram* and turns swap on (run with sudo)";
  std::error_code ec;
  if (!fs::exists("/sys/block/zram0", ec) && !fs::exists(fs::path(kControl) / "hot_add", ec))
    return "--zram: this kernel has no zram device (/sys/block/zram0, /sys/class/zram-control): load the "
           "module with `modprobe zram`";
  return {};
}

std::string selected_algorithm(const std::string& listing) {
  const auto open = listing.find('[');
  const auto close = open == std::string::npos ? open : listing.find(']', open);
  return close == std::string::npos ? std::string() : listing.substr(open + 1, close - open - 1);
}

void write_swap_header(std::span<std::byte> page, std::uint64_t size_bytes) {
  // union swap_header (linux/swap.h): 1024 boot bytes, then version, last_page, nr_badpages,
  // uuid[16], volume[16]; the magic in the page's last 10 bytes.
  std::fill(page.begin(), page.end(), std::byte{0});
  const auto put_u32 = [&](std::size_t at, std::uint32_t v) { std::memcpy(page.data() + at, &v, sizeof v); };
  const std::uint64_t pages = size_bytes / page.size();
  put_u32(1024, 1);
  put_u32(1028, static_cast<std::uint32_t>(std::min<std::uint64_t>(pages - 1, UINT32_MAX)));
  put_u32(1032, 0);
  constexpr std::string_view kLabel = "ringload-bench";
  std::memcpy(page.data() + 1036 + 16, kLabel.data(), kLabel.size());
  constexpr std::string_view kMagic = "SWAPSPACE2";
  std::memcpy(page.data() + page.size() - kMagic.size(), kMagic.data(), kMagic.size());
}

Result<ZramSwap> ZramSwap::create(const ZramSwapOptions& options) {
  if (options.disksize_bytes < 16 * page_size())
    return make_error(ErrorKind::invalid_argument, "--zram needs at least 64 KiB");
  ZramSwap zram;
  zram.lock_ = RINGLOAD_TRY(lock_zram(options.interrupted));
  auto done = zram.set_up(options);
  if (!done) {
    (void)zram.restore();  // whatever half of the setup happened
    return std::move(done).error();
  }
  return zram;
}

Result<void> ZramSwap::set_up(const ZramSwapOptions& options) {
  const fs::path zram0 = "/sys/block/zram0";
  std::error_code ec;
  if (fs::exists(zram0, ec) && disksize_of(zram0) == 0 && !listed_in_proc_swaps("/dev/zram0")) {
    sysfs_dir_ = zram0;
    device_ = "/dev/zram0";
  } else {
    // zram0 holds someone's data (or swap): a device of our own, removed at the end.
    const std::string id_text = trimmed(read_text(fs::path(kControl) / "hot_add"));
    char* end = nullptr;
    const long id = std::strtol(id_text.c_str(), &end, 10);
    if (id_text.empty() || *end != '\0' || id < 0)
      return make_error(ErrorKind::io, "zram0 is in use and " + (fs::path(kControl) / "hot_add").string() +
                                           " gave no new device (is zram built with hot_add?)");
    hot_added_id_ = static_cast<int>(id);
    sysfs_dir_ = fmt::format("/sys/block/zram{}", id);
    device_ = fmt::format("/dev/zram{}", id);
    // devtmpfs makes the node as the device appears; give it a moment.
    for (int i = 0; i < 100 && !fs::exists(device_, ec); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  const std::string listing = read_text(sysfs_dir_ / "comp_algorithm");
  original_algorithm_ = selected_algorithm(listing);
  algorithm_ = original_algorithm_;
  std::istringstream names(listing);
  bool offered = false;
  for (std::string name; names >> name;)
    offered = offered || name == options.algorithm || name == "[" + options.algorithm + "]";
  if (offered && options.algorithm != original_algorithm_) {
    RINGLOAD_TRY_VOID(injected(options, "algorithm"));
    RINGLOAD_TRY_VOID(write_attribute(sysfs_dir_ / "comp_algorithm", options.algorithm));
    algorithm_changed_ = true;
    algorithm_ = options.algorithm;
  }

  RINGLOAD_TRY_VOID(injected(options, "disksize"));
  auto sized = write_attribute(sysfs_dir_ / "disksize", std::to_string(options.disksize_bytes));
  if (!sized) {
    Error e = std::move(sized).error();
    if (e.os_errno == EBUSY) e.message += " (someone configured this zram device a moment ago)";
    return e;
  }
  disksize_set_ = true;
  disksize_bytes_ = options.disksize_bytes;

  RINGLOAD_TRY_VOID(injected(options, "mkswap"));
  {
    // O_EXCL on a block device: fails if anyone has it open or mounted.
    auto fd = RINGLOAD_TRY(UniqueFd::open(device_, O_WRONLY | O_EXCL));
    std::vector<std::byte> page(page_size());
    write_swap_header(page, options.disksize_bytes);
    RINGLOAD_TRY_VOID(write_all(fd.get(), page, device_.string()));
    if (::fsync(fd.get()) != 0) return sys_error(errno, "fsync of the swap header failed", device_.string());
  }

  RINGLOAD_TRY_VOID(injected(options, "swapon"));
  const int flags = SWAP_FLAG_PREFER | ((kSwapPriority << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK);
  if (::swapon(device_.c_str(), flags) != 0) return sys_error(errno, "swapon failed", device_.string());
  swap_on_ = true;
  return {};
}

ZramSwap::ZramSwap(ZramSwap&& other) noexcept
    : lock_(std::move(other.lock_)),
      sysfs_dir_(std::move(other.sysfs_dir_)),
      device_(std::move(other.device_)),
      algorithm_(std::move(other.algorithm_)),
      original_algorithm_(std::move(other.original_algorithm_)),
      disksize_bytes_(other.disksize_bytes_),
      hot_added_id_(std::exchange(other.hot_added_id_, -1)),
      algorithm_changed_(std::exchange(other.algorithm_changed_, false)),
      disksize_set_(std::exchange(other.disksize_set_, false)),
      swap_on_(std::exchange(other.swap_on_, false)) {}

ZramSwap::~ZramSwap() { (void)restore(); }

Result<void> ZramSwap::restore() {
  Result<void> first_error;
  auto keep = [&](Result<void> r) {
    if (!r && first_error) first_error = std::move(r);
  };
  if (swap_on_) {
    if (::swapoff(device_.c_str()) == 0) {
      swap_on_ = false;
    } else {
      keep(sys_error(errno, "swapoff failed: run `swapoff` on it by hand", device_.string()));
    }
  }
  if (disksize_set_ && !swap_on_) {
    // The kernel refuses a reset while the device is still open; swapoff's close can lag a little.
    Result<void> reset;
    for (int attempt = 0; attempt < 50; ++attempt) {
      reset = write_attribute(sysfs_dir_ / "reset", "1");
      if (reset || reset.error().os_errno != EBUSY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (reset) disksize_set_ = false;
    keep(std::move(reset));
  }
  if (algorithm_changed_ && !disksize_set_ && hot_added_id_ < 0) {
    auto back = write_attribute(sysfs_dir_ / "comp_algorithm", original_algorithm_);
    if (back) algorithm_changed_ = false;
    keep(std::move(back));
  }
  if (hot_added_id_ >= 0 && !disksize_set_ && !swap_on_) {
    auto removed = write_attribute(fs::path(kControl) / "hot_remove", std::to_string(hot_added_id_));
    if (removed) hot_added_id_ = -1;
    keep(std::move(removed));
  }
  if (!swap_on_ && !disksize_set_ && hot_added_id_ < 0) {
    algorithm_changed_ = false;
    lock_ = UniqueFd();  // the next bench may have it
  }
  return first_error;
}

}  // namespace ringload::cli::bench
