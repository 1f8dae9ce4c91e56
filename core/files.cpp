#include "core/files.h"

#include "core/sha256.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <vector>

#include "core/errors.h"
#include "core/log.h"
#include "core/topology.h"

namespace kiln::core {
namespace {

class RealFs final : public Fs {
 public:
  int open(const char* path, int flags, mode_t mode) override { return ::open(path, flags, mode); }
  ssize_t write(int fd, const void* data, std::size_t size) override {
    return ::write(fd, data, size);
  }
  int fsync(int fd) override { return ::fsync(fd); }
  int close(int fd) override { return ::close(fd); }
  int rename(const char* from, const char* to) override { return ::rename(from, to); }
  int unlink(const char* path) override { return ::unlink(path); }
  int lock(int fd, bool wait) override {
    struct flock request = {};
    request.l_type = F_WRLCK;
    request.l_whence = SEEK_SET;
    return ::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &request);
  }
  int unlock(int fd) override {
    struct flock request = {};
    request.l_type = F_UNLCK;
    request.l_whence = SEEK_SET;
    return ::fcntl(fd, F_OFD_SETLK, &request);
  }
};

std::string parent_of(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

[[noreturn]] void fail(const std::string& path, const char* step, int err) {
  throw OutputError(
      detail::concat("cannot write '", path, "': ", step, " failed: ", errno_text(err)));
}

}  // namespace

Fs& real_fs() {
  static RealFs fs;
  return fs;
}

void fsync_directory(const std::string& dir, Fs& fs) {
  int fd = fs.open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) fail(dir, "opening the directory to fsync it", errno);
  if (fs.fsync(fd) != 0) {
    int err = errno;
    fs.close(fd);
    fail(dir, "fsync of the directory", err);
  }
  if (fs.close(fd) != 0) fail(dir, "close of the directory", errno);
}

std::string copy_file(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  KILN_CHECK(in >= 0, InputError, "cannot read '", from, "': ", errno_text(errno));
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    fail(to, "creating the copy", err);
  }
  auto abandon = [&](const char* step, int err) {
    ::close(in);
    ::close(out);
    ::unlink(to.c_str());
    fail(to, step, err);
  };
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  while (true) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) abandon("reading the source", errno);
    if (n == 0) break;
    hash.update(buffer.data(), static_cast<std::size_t>(n));
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out, buffer.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) abandon("write", w < 0 ? errno : EIO);
      done += w;
    }
  }
  if (::fsync(out) != 0) abandon("fsync", errno);
  ::close(in);
  if (::close(out) != 0) fail(to, "close", errno);
  return hash.hex_digest();
}

namespace {

// A temporary file beside `path` with `data`, renamed over it; `durable`: fsynced before
// the rename and the directory after.
void write_and_rename(const std::string& path, std::string_view data, Fs& fs, bool durable) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path target(path);
  const std::string temp =
      (target.parent_path() / ("." + target.filename().string() + ".tmp." +
                               std::to_string(::getpid()) + "." + std::to_string(counter++)))
          .string();
  mode_t mode = 0644;
  struct stat existing;
  if (::stat(path.c_str(), &existing) == 0) mode = existing.st_mode & 07777;

  int fd = fs.open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) fail(path, "creating the temporary file", errno);

  // From here on, any failure removes the temporary file before throwing.
  auto abandon = [&](const char* step, int err, bool still_open) {
    if (still_open) fs.close(fd);
    fs.unlink(temp.c_str());
    fail(path, step, err);
  };
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = fs.write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abandon("write", n < 0 ? errno : EIO, true);
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0) abandon("chmod", errno, true);  // O_CREAT's mode obeys umask
  if (durable && fs.fsync(fd) != 0) abandon("fsync", errno, true);
  if (fs.close(fd) != 0) abandon("close", errno, false);
  if (fs.rename(temp.c_str(), path.c_str()) != 0) abandon("rename into place", errno, false);
  if (durable) fsync_directory(parent_of(path), fs);
}

}  // namespace

void atomic_write(const std::string& path, std::string_view data, Fs& fs) {
  write_and_rename(path, data, fs, true);
}

void replace_file(const std::string& path, std::string_view data, Fs& fs) {
  write_and_rename(path, data, fs, false);
}

FileLock FileLock::open_and_lock(const std::string& path, Fs& fs, bool wait) {
  int fd = fs.open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  KILN_CHECK(fd >= 0, OutputError, "cannot open lock file '", path, "': ", errno_text(errno));
  while (fs.lock(fd, wait) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    fs.close(fd);
    if (!wait && (err == EAGAIN || err == EACCES)) return FileLock(path, -1, &fs);
    throw OutputError(detail::concat("cannot lock '", path, "': ", errno_text(err)));
  }
  return FileLock(path, fd, &fs);
}

FileLock FileLock::acquire(const std::string& path, Fs& fs) {
  return open_and_lock(path, fs, true);
}

FileLock FileLock::try_acquire(const std::string& path, Fs& fs) {
  return open_and_lock(path, fs, false);
}

FileLock::FileLock(FileLock&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), fs_(other.fs_) {
  other.fd_ = -1;
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    fs_ = other.fs_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  release();
}

void FileLock::release() {
  if (fd_ < 0) return;
  fs_->unlock(fd_);  // closing the descriptor releases it too; unlock first to be explicit
  fs_->close(fd_);
  fd_ = -1;
}

void make_directories(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  KILN_CHECK(!error, OutputError, "cannot create '", dir, "': ", error.message());
}

std::string read_file(const std::string& path, std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KILN_CHECK(fd >= 0, InputError, "cannot read ", what, " '", path, "': ", errno_text(errno));
  // Read to the end in the file's size at a time (a pipe's or a growing file's too): for a
  // regular file, one read of it and one of the byte past it that finds the end, into a
  // string allocated once.
  struct stat info {};
  const std::size_t step = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0
                               ? static_cast<std::size_t>(info.st_size) + 1
                               : std::size_t{1} << 16;
  std::string content(step, '\0');
  std::size_t size = 0;
  for (;;) {
    if (size == content.size()) content.resize(size + step);
    const ssize_t got = ::read(fd, content.data() + size, content.size() - size);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      throw InputError(detail::concat("cannot read ", what, " '", path, "': ", errno_text(err)));
    }
    if (got == 0) break;
    size += static_cast<std::size_t>(got);
  }
  content.resize(size);
  ::close(fd);
  return content;
}

namespace {

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  return ::remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

}  // namespace

bool remove_tree(const std::string& path) {
  struct stat info;
  if (::lstat(path.c_str(), &info) != 0) return errno == ENOENT;
  return ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0;
}

FileLock lock_writer(const std::string& path, const std::string& busy, const std::string& advice) {
  FileLock lock = FileLock::try_acquire(path);
  if (!lock.held()) {
    std::string holder;  // written by another process: printable text, and not much of it
    try {
      holder = read_file(path, "lock file").substr(0, 200);
    } catch (const Error&) {
    }
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
      holder.pop_back();
    for (char& c : holder)
      if (c < 0x20 || c > 0x7e) c = '?';
    throw OutputError(busy + (holder.empty() ? "" : " (" + holder + ")") + ": " + advice);
  }
  const std::string note =
      detail::concat("pid ", ::getpid(), " on ", host_name(), " since ", utc_timestamp(), "\n");
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);  // the same file
  if (fd >= 0) {
    [[maybe_unused]] const ssize_t written = ::write(fd, note.data(), note.size());
    ::close(fd);
  }
  return lock;
}

}  // namespace kiln::core
