// A file system that fails one chosen call, for testing that the durable-write and lock
// protocols lose nothing and leave nothing behind whichever step fails.
#pragma once

#include <cerrno>
#include <map>
#include <string>

#include "core/files.h"

namespace kiln::core::testing {

class FaultyFs final : public Fs {
 public:
  enum class Op { kOpen, kWrite, kFsync, kClose, kRename, kUnlink, kLock };

  // The nth (1-based) call of `op` fails with `err` and does nothing.
  void fail(Op op, int nth, int err) { faults_[op] = {nth, err}; }
  // Every write writes at most this many bytes (short writes); 0 = no limit.
  void limit_writes(std::size_t bytes) { write_limit_ = bytes; }
  int calls(Op op) const {
    auto it = counts_.find(op);
    return it == counts_.end() ? 0 : it->second;
  }

  int open(const char* path, int flags, mode_t mode) override {
    return faulted(Op::kOpen) ? -1 : real_fs().open(path, flags, mode);
  }
  ssize_t write(int fd, const void* data, std::size_t size) override {
    if (faulted(Op::kWrite)) return -1;
    if (write_limit_ > 0 && size > write_limit_) size = write_limit_;
    return real_fs().write(fd, data, size);
  }
  int fsync(int fd) override { return faulted(Op::kFsync) ? -1 : real_fs().fsync(fd); }
  int close(int fd) override {
    // A failing close still releases the descriptor, as on Linux.
    bool fail = faulted(Op::kClose);
    int rc = real_fs().close(fd);
    if (fail) {
      errno = fault_errno_;
      return -1;
    }
    return rc;
  }
  int rename(const char* from, const char* to) override {
    return faulted(Op::kRename) ? -1 : real_fs().rename(from, to);
  }
  int unlink(const char* path) override {
    return faulted(Op::kUnlink) ? -1 : real_fs().unlink(path);
  }
  int lock(int fd, bool wait) override {
    return faulted(Op::kLock) ? -1 : real_fs().lock(fd, wait);
  }
  int unlock(int fd) override { return real_fs().unlock(fd); }

 private:
  bool faulted(Op op) {
    int n = ++counts_[op];
    auto it = faults_.find(op);
    if (it == faults_.end() || it->second.first != n) return false;
    fault_errno_ = it->second.second;
    errno = fault_errno_;
    return true;
  }

  std::map<Op, std::pair<int, int>> faults_;
  std::map<Op, int> counts_;
  std::size_t write_limit_ = 0;
  int fault_errno_ = 0;
};

}  // namespace kiln::core::testing
