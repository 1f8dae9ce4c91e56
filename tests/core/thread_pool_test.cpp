#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <sched.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "tests/temp_dir.h"

namespace kiln::core {
namespace {

TEST(ThreadPool, RunsEveryItemExactlyOnceAcrossManyLoops) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::atomic<int>> hits(round + 1);
    pool.parallel_for(round + 1, [&](int64_t i) { ++hits[static_cast<std::size_t>(i)]; });
    for (auto& h : hits)
      ASSERT_EQ(h.load(), 1);
  }
}

TEST(ThreadPool, RethrowsAnItemsExceptionAfterTheLoop) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallel_for(100,
                                 [&](int64_t i) {
                                   ++ran;
                                   if (i == 37) throw std::runtime_error("item 37");
                                 }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 100);  // the other items still ran
  int after = 0;
  pool.parallel_for(5, [&](int64_t) { __atomic_add_fetch(&after, 1, __ATOMIC_SEQ_CST); });
  EXPECT_EQ(after, 5);  // usable after an error
}

// A file of a fake cgroup tree.
void put(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(UsableCores, ACgroupsCpuQuotaIsReadAsCoresRoundedUp) {
  testing::TempDir dir;
  const std::filesystem::path root = dir.path();
  // cgroup v2: the least quota of the cgroup and its parents; "max" is none.
  put(root / "v2/kubepods/pod1/cpu.max", "max 100000\n");
  put(root / "v2/kubepods/cpu.max", "250000 100000\n");
  EXPECT_EQ(cgroup_cpu_quota("0::/kubepods/pod1\n", (root / "v2").string()), 3);
  put(root / "v2/kubepods/pod1/cpu.max", "50000 100000\n");
  EXPECT_EQ(cgroup_cpu_quota("0::/kubepods/pod1\n", (root / "v2").string()), 1);
  // A container's own cgroup at the root (its path is not under it), and no quota at all.
  put(root / "c/cpu.max", "800000 100000\n");
  EXPECT_EQ(cgroup_cpu_quota("0::/docker/abc\n", (root / "c").string()), 8);
  put(root / "c/cpu.max", "max 100000\n");
  EXPECT_EQ(cgroup_cpu_quota("0::/docker/abc\n", (root / "c").string()), 0);
  // cgroup v1: cpu.cfs_quota_us over cpu.cfs_period_us of the cpu controller's cgroup.
  put(root / "v1/cpu/slurm/job1/cpu.cfs_quota_us", "400000\n");
  put(root / "v1/cpu/slurm/job1/cpu.cfs_period_us", "100000\n");
  const std::string v1 = "4:memory:/slurm/job1\n3:cpu,cpuacct:/slurm/job1\n0::/\n";
  EXPECT_EQ(cgroup_cpu_quota(v1, (root / "v1").string()), 4);
  put(root / "v1/cpu/slurm/job1/cpu.cfs_quota_us", "-1\n");
  EXPECT_EQ(cgroup_cpu_quota(v1, (root / "v1").string()), 0);
  // Unreadable or odd text is no quota.
  put(root / "bad/cpu.max", "a lot\n");
  EXPECT_EQ(cgroup_cpu_quota("0::/\n", (root / "bad").string()), 0);
  EXPECT_EQ(cgroup_cpu_quota("garbage", (root / "bad").string()), 0);
  EXPECT_EQ(cgroup_cpu_quota("", "/nonexistent"), 0);
}

TEST(UsableCores, AtLeastOneAndNoMoreThanTheAffinityAllows) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_GE(usable_cores(), 1);
  EXPECT_LE(usable_cores(), CPU_COUNT(&set));
}

}  // namespace
}  // namespace kiln::core
