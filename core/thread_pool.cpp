#include "core/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>

namespace kiln::core {

namespace {

namespace fs = std::filesystem;

// The first line of a small file, or "".
std::string first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// `quota` microseconds of CPU per `period` as cores, rounded up; 0 for none.
int quota_cores(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<int>(std::min<int64_t>((quota + period - 1) / period, 1 << 20));
}

int64_t number(std::string_view text) {
  int64_t value = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() ? value : -1;
}

// The cgroup's directory under `root`, or `root` itself where the path is not there (a
// container's own cgroup mounted at the root).
fs::path cgroup_dir(const fs::path& root, const std::string& path) {
  std::error_code ec;
  const fs::path dir = root / fs::path(path).relative_path();
  return fs::is_directory(dir, ec) ? dir : root;
}

}  // namespace

int cgroup_cpu_quota(const std::string& proc_self_cgroup, const std::string& root) {
  std::istringstream lines(proc_self_cgroup);
  int v1 = 0;
  for (std::string line; std::getline(lines, line);) {
    // "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1)
    const std::size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controllers.empty() && line.compare(0, a, "0") == 0) {
      int least = 0;
      const fs::path top = root;
      for (fs::path dir = cgroup_dir(top, path);; dir = dir.parent_path()) {
        const std::string max = first_line(dir / "cpu.max");  // "max 100000" or "50000 100000"
        const std::size_t space = max.find(' ');
        if (space != std::string::npos) {
          const int cores = quota_cores(number(std::string_view(max).substr(0, space)),
                                        number(std::string_view(max).substr(space + 1)));
          if (cores > 0) least = least == 0 ? cores : std::min(least, cores);
        }
        if (dir == top || !dir.has_parent_path() || dir.parent_path() == dir) break;
      }
      if (least > 0) return least;
    } else if (("," + controllers + ",").find(",cpu,") != std::string::npos) {
      for (const char* mount : {"cpu", "cpu,cpuacct"}) {
        const fs::path dir = cgroup_dir(fs::path(root) / mount, path);
        const int cores = quota_cores(number(first_line(dir / "cpu.cfs_quota_us")),
                                      number(first_line(dir / "cpu.cfs_period_us")));
        if (cores > 0) {
          v1 = cores;
          break;
        }
      }
    }
  }
  return v1;
}

int usable_cores() {
  static const int cores = [] {
    int n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) n = std::max(1, CPU_COUNT(&set));
    std::ifstream in("/proc/self/cgroup");
    const std::string cgroup((std::istreambuf_iterator<char>(in)), {});
    const int quota = cgroup_cpu_quota(cgroup, "/sys/fs/cgroup");
    return quota > 0 ? std::min(n, quota) : n;
  }();
  return cores;
}

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = usable_cores();
  for (int i = 1; i < threads; ++i)
    workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_)
    t.join();
}

void ThreadPool::run_items() {
  // Called with mutex_ held; takes items one at a time and runs them unlocked.
  std::unique_lock lock(mutex_, std::adopt_lock);
  while (next_ < n_) {
    int64_t i = next_++;
    const auto* fn = fn_;
    lock.unlock();
    try {
      (*fn)(i);
    } catch (...) {
      std::lock_guard error_lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    lock.lock();
    if (++finished_ == n_) done_.notify_all();
  }
  lock.release();
}

void ThreadPool::work() {
  uint64_t seen = 0;
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    lock.release();
    run_items();
    lock = std::unique_lock(mutex_, std::adopt_lock);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int64_t i = 0; i < n; ++i)
      fn(i);
    return;
  }
  std::unique_lock lock(mutex_);
  fn_ = &fn;
  n_ = n;
  next_ = 0;
  finished_ = 0;
  error_ = nullptr;
  ++generation_;
  wake_.notify_all();
  lock.release();
  run_items();
  lock = std::unique_lock(mutex_, std::adopt_lock);
  done_.wait(lock, [&] { return finished_ == n_; });
  fn_ = nullptr;
  std::exception_ptr error = error_;
  lock.unlock();
  if (error) std::rethrow_exception(error);
}

}  // namespace kiln::core
