#include "core/thread_pool.h"

#include <sched.h>

#include <algorithm>

namespace kiln::core {

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
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
