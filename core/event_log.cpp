#include "core/event_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"

namespace kiln::core {
namespace {

using json = nlohmann::json;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The events as journal lines, each stamped with "t": `now`.
std::string journal_lines(std::vector<json> events, double now) {
  std::string out;
  for (json& e : events) {
    e["t"] = now;
    out += e.dump() + "\n";
  }
  return out;
}

// Replays the complete lines of `bytes` through `apply`, counting them in `lines`; returns
// how many bytes they span (a torn last line is left out).
int64_t replay_lines(const std::string& bytes, const std::string& path, int64_t& lines,
                     const EventLog::Apply& apply) {
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = bytes.find('\n', begin);
    if (end == std::string::npos) break;
    ++lines;
    const std::string where = path + " line " + std::to_string(lines);
    json event;
    try {
      event = json::parse(bytes.begin() + static_cast<std::ptrdiff_t>(begin),
                          bytes.begin() + static_cast<std::ptrdiff_t>(end));
    } catch (const json::exception& e) {
      throw DataError(where + ": not a JSON object: " + e.what());
    }
    KILN_CHECK(event.is_object(), DataError, where, ": expected a JSON object");
    apply(event, where);
    begin = end + 1;
  }
  return static_cast<int64_t>(begin);
}

std::string read_from(int fd, int64_t offset, const std::string& path) {
  struct stat st {};
  KILN_CHECK(::fstat(fd, &st) == 0, InputError, "cannot stat '", path, "': ", errno_text(errno));
  std::string bytes(static_cast<std::size_t>(std::max<int64_t>(0, st.st_size - offset)), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, offset + static_cast<int64_t>(done));
    KILN_CHECK(n >= 0, InputError, "cannot read '", path, "': ", errno_text(errno));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace

EventLog::EventLog(std::string path, std::string lock_path, bool create, std::string missing)
    : path_(std::move(path)),
      lock_path_(std::move(lock_path)),
      missing_(std::move(missing)),
      create_(create) {}

void EventLog::transact(const Apply& apply, const std::function<std::vector<json>()>& decide,
                        const std::function<void()>& reset,
                        const std::function<void()>& committed) {
  FileLock lock = FileLock::acquire(lock_path_);
  const int flags = O_RDWR | O_APPEND | O_CLOEXEC | (create_ ? O_CREAT : 0);
  Fd file{::open(path_.c_str(), flags, 0644)};
  KILN_CHECK(file.fd >= 0, InputError, "cannot open the journal '", path_, "': ", errno_text(errno),
             missing_);
  struct stat st {};
  KILN_CHECK(::fstat(file.fd, &st) == 0, InputError, "cannot stat '", path_,
             "': ", errno_text(errno));
  if (offset_ > 0 && (st.st_ino != inode_ || st.st_size < offset_)) {
    reset();
    offset_ = lines_ = 0;
  }
  inode_ = st.st_ino;
  const std::string bytes = read_from(file.fd, offset_, path_);
  const int64_t used = replay_lines(bytes, path_, lines_, apply);
  offset_ += used;
  if (used < static_cast<int64_t>(bytes.size())) {
    log_warn(path_ + ": cutting off a torn last line (a writer died mid-write)");
    KILN_CHECK(::ftruncate(file.fd, offset_) == 0, OutputError, "cannot truncate '", path_,
               "': ", errno_text(errno));
  }
  std::vector<json> events = decide();
  if (events.empty()) return;
  const std::string out = journal_lines(std::move(events), journal_now());
  const ssize_t n = ::write(file.fd, out.data(), out.size());
  if (n != static_cast<ssize_t>(out.size())) {
    const std::string reason = n < 0 ? errno_text(errno) : "short write";
    if (n > 0) (void)::ftruncate(file.fd, offset_);  // leave no torn line behind
    throw OutputError("cannot append to '" + path_ + "': " + reason);
  }
  KILN_CHECK(::fsync(file.fd) == 0, OutputError, "cannot fsync '", path_, "': ", errno_text(errno));
  offset_ += replay_lines(out, path_, lines_, apply);
  if (committed) committed();
}

void EventLog::replay(const std::string& path, const Apply& apply, const std::string& missing) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  KILN_CHECK(file.fd >= 0, InputError, "cannot open the journal '", path, "': ", errno_text(errno),
             missing);
  int64_t lines = 0;
  replay_lines(read_from(file.fd, 0, path), path, lines, apply);
}

void EventLog::create(const std::string& path, const std::vector<json>& events,
                      const Apply& apply) {
  const std::string out = journal_lines(events, journal_now());
  int64_t lines = 0;
  replay_lines(out, path, lines, apply);  // what is written must replay
  atomic_write(path, out);
}

double journal_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace kiln::core
