// Durable file writes and advisory locks, behind a small file-system seam.
//
// Every system call that the atomic-write and lock protocols make goes through `Fs`, so a
// test can make any single step fail (see FaultyFs in tests/core/faulty_fs.h) and check
// that nothing is lost or left behind. Production code uses `real_fs()`.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace kiln::core {

// The system calls the protocols need. Each returns what the POSIX call returns and sets
// errno on failure. Implementations must be thread-safe.
class Fs {
 public:
  virtual ~Fs() = default;
  virtual int open(const char* path, int flags, mode_t mode) = 0;
  virtual ssize_t write(int fd, const void* data, std::size_t size) = 0;
  virtual int fsync(int fd) = 0;
  virtual int close(int fd) = 0;
  virtual int rename(const char* from, const char* to) = 0;
  virtual int unlink(const char* path) = 0;
  // fcntl(F_OFD_SETLK/F_OFD_SETLKW) with a whole-file write lock, or an unlock.
  virtual int lock(int fd, bool wait) = 0;
  virtual int unlock(int fd) = 0;
};

// The real file system: plain POSIX calls.
Fs& real_fs();

// Replaces `path` with `data` so that a reader sees either the old or the new content,
// never a mix, and the new content survives a crash once this returns: writes a temporary
// file beside the target (".<name>.tmp.<pid>.<n>"), fsyncs it, renames it over the target
// and fsyncs the directory. Keeps the mode of an existing target (0644 for a new one).
// On any failure removes the temporary file, leaves the old target as it was, and throws
// OutputError naming the path, the step and the system's reason.
void atomic_write(const std::string& path, std::string_view data, Fs& fs = real_fs());

// atomic_write without the fsyncs: readers see the old or the new content whole, but a crash
// of the machine may leave either, or an empty file. For small files rewritten every few
// seconds that the next write restores (metrics files for node_exporter), where a disk flush
// per write would cost the training loop more than the file is worth.
void replace_file(const std::string& path, std::string_view data, Fs& fs = real_fs());

// Creates a directory and its missing parents. OutputError "cannot create '<dir>': <reason>".
void make_directories(const std::string& dir);

// The whole content of a file. InputError "cannot read <what> '<path>'" when it cannot be read.
std::string read_file(const std::string& path, std::string_view what = "file");

// Removes a file or a directory tree (symbolic links are removed, not followed). A missing
// path is not an error; returns false when something could not be removed. POSIX nftw(3),
// not std::filesystem::remove_all: in a program linked with LibTorch that symbol can bind to
// LibTorch's own copy, which crashes (docs/DECISIONS.md).
bool remove_tree(const std::string& path);

// Copies the file `from` to a new file `to` (mode 0644, fsynced) and returns the SHA-256 of
// the bytes copied. InputError when `from` cannot be read, OutputError naming `to` when it
// cannot be written (it exists already, the disk is full); a partial `to` is removed.
std::string copy_file(const std::string& from, const std::string& to);

// fsyncs a directory, so a rename or create inside it survives a crash.
void fsync_directory(const std::string& dir, Fs& fs = real_fs());

// An exclusive advisory lock on a file (created if missing), held until destruction.
// Uses open-file-description locks: they exclude other processes and other FileLock
// objects of this process alike, are released when the holder dies, and work on NFS.
// Not thread-safe itself; one object per holder.
class FileLock {
 public:
  // Blocks until the lock is held. Throws OutputError when the file cannot be opened.
  static FileLock acquire(const std::string& path, Fs& fs = real_fs());
  // Returns an unheld lock (held() == false) when another holder has it.
  static FileLock try_acquire(const std::string& path, Fs& fs = real_fs());

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // Releases early; the destructor then does nothing.
  void release();

 private:
  FileLock(std::string path, int fd, Fs* fs) : path_(std::move(path)), fd_(fd), fs_(fs) {}
  static FileLock open_and_lock(const std::string& path, Fs& fs, bool wait);

  std::string path_;
  int fd_ = -1;
  Fs* fs_ = nullptr;
};

// The lock of a directory that one process writes at a time (a run, a pipeline's
// directory), held by the returned object: `path` locked without waiting, with "pid N on
// HOST since TIME" written into it for whoever comes next. OutputError "<busy> (pid N on
// HOST since TIME): <advice>" when another process holds it (what it wrote, as text).
FileLock lock_writer(const std::string& path, const std::string& busy, const std::string& advice);

}  // namespace kiln::core
