// A small pool for data-parallel loops: parallel_for(n, fn) runs fn(0..n-1) on the pool's
// workers and the calling thread, and returns when all are done.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kiln::core {

// The cores this process may use: those of its CPU affinity (a Slurm task's, a `taskset`'s),
// and no more than its cgroup's CPU quota (a container's CPU limit); at least 1.
int usable_cores();

// The CPU quota of the cgroup that `proc_self_cgroup` (the text of /proc/self/cgroup) names,
// under the cgroup file system at `root` (/sys/fs/cgroup), as cores rounded up: cgroup v2's
// cpu.max of the cgroup and of its parents (the least), else v1's cpu.cfs_quota_us over
// cpu.cfs_period_us. Inside a container whose cgroup path is not under `root`, the files at
// `root` itself. 0 when no quota is set or none can be read.
int cgroup_cpu_quota(const std::string& proc_self_cgroup, const std::string& root);

// One parallel_for at a time (callers serialize); fn must be safe to call concurrently.
class ThreadPool {
 public:
  // `threads` in total, counting the caller: threads - 1 workers. 0 means one per usable core.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Rethrows the first exception any fn(i) threw, after every started item has finished.
  void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  void work();
  void run_items();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t next_ = 0;
  int64_t finished_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace kiln::core
