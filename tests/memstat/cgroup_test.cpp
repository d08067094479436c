// find_memory_cgroup / locate_memory_cgroup / memory_cgroup_stat: which hierarchy holds a
// process's memory cgroup (texts as hybrid, pure-v2 and container machines give them) and the
// figures read from a cgroup directory (written here as v1 and v2 kernels lay them out).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "ringload/memstat.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

namespace fs = std::filesystem;

// A hybrid systemd machine: cgroup2 at /sys/fs/cgroup/unified without controllers, memory on v1.
constexpr std::string_view kHybridMountinfo =
    "25 30 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n"
    "31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory\n"
    "32 25 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct\n";
constexpr std::string_view kHybridCgroup =
    "5:cpu,cpuacct:/system.slice/svc.service\n"
    "4:memory:/system.slice/svc.service\n"
    "0::/system.slice/svc.service\n";

std::string no_controllers(const fs::path& /*mount*/) { return "\n"; }

TEST(MemoryCgroupLocate, HybridMachineUsesV1WhenV2HasNoMemoryController) {
  const auto found = locate_memory_cgroup(kHybridMountinfo, kHybridCgroup, no_controllers);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->version, CgroupVersion::v1);
  EXPECT_EQ(found->dir, fs::path("/sys/fs/cgroup/memory/system.slice/svc.service"));
  EXPECT_EQ(found->name, "/system.slice/svc.service");
}

TEST(MemoryCgroupLocate, V2WhenItsRootListsMemory) {
  fs::path asked;
  const auto found = locate_memory_cgroup(kHybridMountinfo, kHybridCgroup, [&](const fs::path& mount) {
    asked = mount;
    return std::string("cpuset cpu io memory pids\n");
  });
  ASSERT_TRUE(found);
  EXPECT_EQ(asked, fs::path("/sys/fs/cgroup/unified"));
  EXPECT_EQ(found->version, CgroupVersion::v2);
  EXPECT_EQ(found->dir, fs::path("/sys/fs/cgroup/unified/system.slice/svc.service"));
}

TEST(MemoryCgroupLocate, MemoryMustBeAWholeTokenInControllers) {
  // "nomemory" is not the memory controller.
  const auto found = locate_memory_cgroup(kHybridMountinfo, kHybridCgroup,
                                          [](const fs::path&) { return std::string("cpu nomemory io"); });
  ASSERT_TRUE(found);
  EXPECT_EQ(found->version, CgroupVersion::v1);
}

TEST(MemoryCgroupLocate, ContainerMountOfItsOwnSubtreeStripsTheRoot) {
  // cgroup v2 in a container without a cgroup namespace: the mount shows /docker/abc at /sys/fs/cgroup.
  const std::string mountinfo = "40 30 0:35 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
  const auto found = locate_memory_cgroup(mountinfo, "0::/docker/abc/app\n",
                                          [](const fs::path&) { return std::string("memory pids"); });
  ASSERT_TRUE(found);
  EXPECT_EQ(found->dir, fs::path("/sys/fs/cgroup/app"));
  // A path outside the mounted subtree (or one that only shares a prefix) is not visible here.
  EXPECT_FALSE(locate_memory_cgroup(mountinfo, "0::/docker/abcdef\n",
                                    [](const fs::path&) { return std::string("memory"); }));
}

TEST(MemoryCgroupLocate, EscapedMountPointAndNoControllerAtAll) {
  const std::string mountinfo = "31 25 0:29 / /sys/fs/cg\\040memory rw - cgroup cgroup rw,memory\n";
  const auto found = locate_memory_cgroup(mountinfo, "4:memory:/\n", no_controllers);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->dir, fs::path("/sys/fs/cg memory"));
  EXPECT_FALSE(locate_memory_cgroup("26 25 0:24 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/\n",
                                    no_controllers));
}

void put(const fs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
  ASSERT_TRUE(out) << file;
}

TEST(MemoryCgroupStat, ReadsV1Files) {
  test::TempDir dir;
  put(dir.file("memory.limit_in_bytes"), "1073741824\n");
  put(dir.file("memory.usage_in_bytes"), "5242880\n");
  put(dir.file("memory.max_usage_in_bytes"), "9437184\n");
  // total_* (hierarchical) win over the cgroup's own figures.
  put(dir.file("memory.stat"),
      "cache 1\nrss 2\nswap 3\npgmajfault 4\ntotal_cache 4096\ntotal_rss 8192\ntotal_swap 12288\n");
  put(dir.file("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  const auto s = memory_cgroup_stat(MemoryCgroupPath{CgroupVersion::v1, dir.path(), "/x"});
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(s->limit_bytes, std::optional<std::uint64_t>(1073741824));
  EXPECT_EQ(s->current_bytes, 5242880U);
  EXPECT_EQ(s->peak_bytes, 9437184U);
  EXPECT_EQ(s->file_bytes, 4096U);
  EXPECT_EQ(s->anon_bytes, 8192U);
  EXPECT_EQ(s->swap_bytes, 12288U);
  EXPECT_EQ(s->oom_kills, 2U);
}

TEST(MemoryCgroupStat, V1UnlimitedIsNoLimit) {
  test::TempDir dir;
  put(dir.file("memory.limit_in_bytes"), "9223372036854771712\n");
  put(dir.file("memory.usage_in_bytes"), "0\n");
  put(dir.file("memory.max_usage_in_bytes"), "0\n");
  put(dir.file("memory.stat"), "cache 7\nrss 9\n");
  const auto s = memory_cgroup_stat(MemoryCgroupPath{CgroupVersion::v1, dir.path(), "/x"});
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_FALSE(s->limit_bytes);
  EXPECT_EQ(s->file_bytes, 7U);  // no total_* lines: the cgroup's own
  EXPECT_EQ(s->anon_bytes, 9U);
  EXPECT_EQ(s->oom_kills, 0U);  // no memory.oom_control (before Linux 4.13)
}

TEST(MemoryCgroupStat, ReadsV2FilesAndMax) {
  test::TempDir dir;
  put(dir.file("memory.max"), "max\n");
  put(dir.file("memory.current"), "123\n");
  put(dir.file("memory.peak"), "456\n");
  put(dir.file("memory.swap.current"), "789\n");
  put(dir.file("memory.stat"), "anon 100\nfile 200\nkernel 5\nfile_mapped 1\n");
  put(dir.file("memory.events"), "low 0\nhigh 0\nmax 9\noom 3\noom_kill 1\noom_group_kill 0\n");
  const auto s = memory_cgroup_stat(MemoryCgroupPath{CgroupVersion::v2, dir.path(), "/x"});
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_FALSE(s->limit_bytes);
  EXPECT_EQ(s->current_bytes, 123U);
  EXPECT_EQ(s->peak_bytes, 456U);
  EXPECT_EQ(s->swap_bytes, 789U);
  EXPECT_EQ(s->anon_bytes, 100U);
  EXPECT_EQ(s->file_bytes, 200U);  // "file", not "file_mapped"
  EXPECT_EQ(s->oom_kills, 1U);     // "oom_kill", not "oom" or "oom_group_kill"
}

TEST(MemoryCgroupStat, MissingFileNamesIt) {
  test::TempDir dir;
  const auto s = memory_cgroup_stat(MemoryCgroupPath{CgroupVersion::v2, dir.path(), "/x"});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::not_found);
  EXPECT_EQ(s.error().path, (dir.path() / "memory.max").string());
}

TEST(MemoryCgroupFind, ThisProcessWhereAControllerIsMounted) {
  const auto found = find_memory_cgroup();
  ASSERT_TRUE(found) << found.error().to_string();
  if (!found->has_value()) GTEST_SKIP() << "no memory cgroup controller mounted here";
  EXPECT_TRUE(fs::is_directory((*found)->dir)) << (*found)->dir;
  const auto s = memory_cgroup_stat(**found);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_GT(s->current_bytes, 0U);  // this test process is charged there
}

}  // namespace
}  // namespace ringload
