// Proving untrusted files in forked child processes (ShardFile::open_all): libhdf5 has
// crashed, hung and allocated without bound on malformed files, and a child's crash becomes
// a clear error here instead of ending the run.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kiln::data {

// Whether files are proved in child processes: unless KILN_HDF5_SANDBOX=0 (debugging only).
bool sandbox_enabled();

// Proves files in forked child processes while this process goes on: each child takes the
// next file not yet taken (a counter in memory shared with them), so that a child slowed by
// another process on its core does not hold back the files a faster one could prove. next()
// returns the files' proofs in order, each when it is there, and reports how the file's proof
// ended: normally (what the proof established), with a Kiln error (rethrown here with the
// child's message and exit code), or with the child killed — libhdf5 has crashed on malformed
// files (object-header and B-tree decoding), and a crash in a child becomes a DataError here
// instead of killing the run. A proof that hangs is killed after 60 s; one that allocates
// more than 1 GiB beyond what the child inherited fails the allocation. A child writes one
// record per file: the file's index, an exit code byte (0: proven), the message's length and
// the message (the error's, or what the probe returned); after an error it ends.
class Proofs {
 public:
  // Proves file i in a child: returns what the proof established, or throws.
  using Probe = std::function<std::string(std::size_t)>;

  Proofs(std::vector<std::string> paths, const Probe& probe, std::size_t children);
  Proofs(const Proofs&) = delete;
  Proofs& operator=(const Proofs&) = delete;
  ~Proofs();

  // Returns what the next file's proof established when it is proven; throws when it is not.
  std::string next();

 private:
  using Counter = std::atomic<uint64_t>;
  static_assert(Counter::is_always_lock_free, "the counters are shared between processes");

  struct Child {
    pid_t pid = -1;
    int fd = -1;  // the read end of its records' pipe; -1 once it ended
    bool reaped = false;
  };

  struct Result {
    int code = 0;
    std::string message;
  };

  Counter& taken() { return shared_[0]; }
  Counter& proving(std::size_t k) { return shared_[1 + k]; }

  void start(std::size_t k, const Probe& probe);
  // Closes the pipes; a child still proving (this process stopped early) is killed.
  void stop();
  [[noreturn]] void prove(int fd, const Probe& probe, std::size_t k);
  // Waits for a record from any child and keeps it; a child that ended without a record for
  // the file it was proving leaves that file the reason. `wanted`: the file next() waits for.
  void receive(std::size_t wanted);
  // The child's pipe ended: it is reaped, and the file it was proving, if it has no record,
  // fails with how the child ended.
  void ended(Child& child);

  std::vector<std::string> paths_;
  std::vector<std::optional<Result>> results_;  // by file, until next() takes them
  std::size_t next_ = 0;
  std::vector<Child> children_;
  Counter* shared_ = nullptr;  // taken(), then proving(k) for each child
  std::size_t shared_bytes_ = 0;
};

}  // namespace kiln::data
