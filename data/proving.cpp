#include "data/proving.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

#include "core/errors.h"
#include "data/h5.h"

namespace kiln::data {
namespace {

// How much private memory the proving child may add to what it inherited: far more than
// proving a file needs (headers, the chunk index), far less than a machine has.
constexpr uint64_t kProbeMemory = uint64_t{1} << 30;

constexpr uint64_t kNone = ~uint64_t{0};  // a child's file before it takes one

// Caps the calling process's private data (RLIMIT_DATA: heap and private writable mappings)
// at what it has now plus `extra` bytes. libhdf5 has allocated without bound on a corrupt
// header (a 6 KB file grew a process to the OOM killer, h5py's included); under the cap the
// allocations fail, HDF5 reports an error, and the file is refused. Best effort: without
// /proc the cap is not set.
void cap_private_memory(uint64_t extra) {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char text[8192];
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return;
  text[n] = '\0';
  const char* line = std::strstr(text, "\nVmData:");
  if (line == nullptr) return;
  const uint64_t bytes = std::strtoull(line + 8, nullptr, 10) * 1024;  // "VmData:  123 kB"
  const rlimit limit{bytes + extra, bytes + extra};
  ::setrlimit(RLIMIT_DATA, &limit);
}

bool write_exactly(int fd, const std::string& data) {
  for (std::size_t at = 0; at < data.size();) {
    const ssize_t put = ::write(fd, data.data() + at, data.size() - at);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    at += static_cast<std::size_t>(put);
  }
  return true;
}

bool read_exactly(int fd, void* out, std::size_t n) {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    const ssize_t got = ::read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Why `path` has no proof: its child was killed, or ended in a way that ended the process
// (out of memory: a sanitizer's runtime exits 66, say); no status when that is unknown.
std::string died(const std::string& path, std::optional<int> status) {
  if (status && WIFSIGNALED(*status)) {
    return detail::concat(
        path, ": the HDF5 library ", WTERMSIG(*status) == SIGALRM ? "hung" : "crashed", " (signal ",
        WTERMSIG(*status), ") reading the file's structure: the file is malformed");
  }
  return detail::concat(
      path, ": the HDF5 library failed",
      status ? detail::concat(" (exit code ", WEXITSTATUS(*status), ")") : std::string(),
      " reading the file's structure: the file is malformed");
}

}  // namespace

bool sandbox_enabled() {
  const char* setting = std::getenv("KILN_HDF5_SANDBOX");
  return setting == nullptr || std::string(setting) != "0";
}

Proofs::Proofs(std::vector<std::string> paths, const Probe& probe, std::size_t children)
    : paths_(std::move(paths)), results_(paths_.size()) {
  children = std::clamp<std::size_t>(children, 1, std::max<std::size_t>(paths_.size(), 1));
  // The counter of files taken, then the file each child is proving.
  shared_bytes_ = (1 + children) * sizeof(Counter);
  void* shared =
      ::mmap(nullptr, shared_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  KILN_CHECK(shared != MAP_FAILED, InternalError, "mmap: ", errno_text(errno));
  shared_ = static_cast<Counter*>(shared);
  for (std::size_t k = 0; k <= children; ++k)
    new (&shared_[k]) Counter(k == 0 ? 0 : kNone);
  try {
    for (std::size_t k = 0; k < children; ++k)
      start(k, probe);
  } catch (...) {
    stop();
    throw;
  }
}

Proofs::~Proofs() {
  stop();
}

std::string Proofs::next() {
  const std::size_t i = next_++;
  while (!results_.at(i))
    receive(i);
  Result result = std::move(*results_[i]);
  switch (result.code) {
    case 0:
      return std::move(result.message);
    case static_cast<int>(ExitCode::kNoInput):
      throw InputError(result.message);
    case static_cast<int>(ExitCode::kBadData):
      throw DataError(result.message);
    default:
      throw Error(static_cast<ExitCode>(result.code), result.message);
  }
}

void Proofs::start(std::size_t k, const Probe& probe) {
  int pipe_fds[2];
  pid_t pid = -1;
  int fork_error = 0;
  {
    // No other thread is inside HDF5 while the process forks, and no other thread's
    // proving child is forked while this process holds the pipe's write end: that child
    // would keep it open, and a crash of this one would go unseen until it ended.
    h5::H5Lock lock;
    KILN_CHECK(::pipe2(pipe_fds, O_CLOEXEC) == 0, InternalError, "pipe: ", errno_text(errno));
    pid = ::fork();
    fork_error = errno;
    if (pid != 0) ::close(pipe_fds[1]);
  }
  if (pid == 0) {
    ::close(pipe_fds[0]);
    prove(pipe_fds[1], probe, k);
  }
  if (pid < 0) {
    ::close(pipe_fds[0]);
    throw InternalError(detail::concat("fork: ", errno_text(fork_error)));
  }
  children_.push_back({pid, pipe_fds[0], false});
}

void Proofs::stop() {
  for (Child& child : children_) {
    if (child.fd >= 0) ::close(child.fd);
    if (!child.reaped) {
      ::kill(child.pid, SIGKILL);
      wait_for(child.pid);
    }
  }
  children_.clear();
  if (shared_ != nullptr) ::munmap(shared_, shared_bytes_);
  shared_ = nullptr;
}

void Proofs::prove(int fd, const Probe& probe, std::size_t k) {
  h5::reset_lock_after_fork();
  // Whatever handlers the parent installed (sanitizers, fuzzers, the trainer's), a fault
  // here must simply end the child so that the parent sees the signal.
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM}) {
    struct sigaction action = {};
    action.sa_handler = SIG_DFL;
    ::sigaction(sig, &action, nullptr);
  }
  cap_private_memory(kProbeMemory);
  for (;;) {
    const uint64_t i = taken().fetch_add(1);
    if (i >= paths_.size()) ::_exit(0);
    proving(k).store(i);
    ::alarm(60);
    int code = 0;
    std::string message;
    try {
      message = probe(i);
    } catch (const Error& e) {
      code = e.exit_code();
      message = e.what();
    } catch (const std::exception& e) {
      code = 1;
      message = e.what();
    }
    const auto index = static_cast<uint32_t>(i);
    const auto length = static_cast<uint32_t>(message.size());
    std::string record(reinterpret_cast<const char*>(&index), sizeof index);
    record += static_cast<char>(code);
    record.append(reinterpret_cast<const char*>(&length), sizeof length);
    record += message;
    if (!write_exactly(fd, record) || code != 0) ::_exit(0);
  }
}

void Proofs::receive(std::size_t wanted) {
  std::vector<pollfd> fds;
  for (const Child& child : children_)
    if (child.fd >= 0) fds.push_back({child.fd, POLLIN, 0});
  if (fds.empty()) {  // every child ended without this file's record
    results_[wanted] =
        Result{static_cast<int>(ExitCode::kBadData), died(paths_[wanted], std::nullopt)};
    return;
  }
  while (::poll(fds.data(), fds.size(), -1) < 0) {
    KILN_CHECK(errno == EINTR, InternalError, "poll: ", errno_text(errno));
  }
  for (const pollfd& ready : fds) {
    if (ready.revents == 0) continue;
    Child& child = *std::find_if(children_.begin(), children_.end(),
                                 [&](const Child& c) { return c.fd == ready.fd; });
    uint32_t index = 0, length = 0;
    unsigned char code = 0;
    if (read_exactly(child.fd, &index, sizeof index) && index < results_.size() &&
        read_exactly(child.fd, &code, 1) && read_exactly(child.fd, &length, sizeof length)) {
      std::string message(length, '\0');
      if (read_exactly(child.fd, message.data(), length)) {
        results_[index] = Result{code, std::move(message)};
        continue;
      }
    }
    ended(child);
  }
}

void Proofs::ended(Child& child) {
  ::close(child.fd);
  child.fd = -1;
  const int status = wait_for(child.pid);
  child.reaped = true;
  const uint64_t i = proving(static_cast<std::size_t>(&child - children_.data())).load();
  if (i < results_.size() && !results_[i])
    results_[i] = Result{static_cast<int>(ExitCode::kBadData), died(paths_[i], status)};
}

}  // namespace kiln::data
