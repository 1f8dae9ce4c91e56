#include "core/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "faulty_fs.h"
#include "tests/temp_dir.h"

namespace kiln::core {
namespace {

using testing::FaultyFs;
namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::vector<std::string> leftovers() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path());
    }
    return out;
  }

  kiln::testing::TempDir dir_;
  std::string target_ = dir_ / "state.json";
};

TEST_F(FilesTest, AtomicWriteReplacesContentAndKeepsTheMode) {
  atomic_write(target_, "first");
  EXPECT_EQ(read(target_), "first");
  EXPECT_EQ(fs::status(target_).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                fs::perms::others_read);
  ::chmod(target_.c_str(), 0600);
  atomic_write(target_, std::string(3 << 20, 'x'));
  EXPECT_EQ(read(target_).size(), 3u << 20);
  EXPECT_EQ(fs::status(target_).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(FilesTest, AtomicWriteCompletesThroughShortWrites) {
  FaultyFs faulty;
  faulty.limit_writes(7);
  std::string content(1000, 'k');
  atomic_write(target_, content, faulty);
  EXPECT_EQ(read(target_), content);
  EXPECT_GE(faulty.calls(FaultyFs::Op::kWrite), 1000 / 7);
}

// Every step before the rename: failing it leaves the old file and no temporary behind.
TEST_F(FilesTest, AFailedStepBeforeTheRenameLeavesTheOldFileIntactAndNoTemporary) {
  struct Step {
    FaultyFs::Op op;
    int nth;
    int err;
    const char* named;
  };
  for (const Step& step :
       {Step{FaultyFs::Op::kOpen, 1, EACCES, "creating the temporary file"},
        Step{FaultyFs::Op::kWrite, 1, ENOSPC, "write"}, Step{FaultyFs::Op::kWrite, 2, EIO, "write"},
        Step{FaultyFs::Op::kFsync, 1, EIO, "fsync"}, Step{FaultyFs::Op::kClose, 1, EIO, "close"},
        Step{FaultyFs::Op::kRename, 1, EXDEV, "rename into place"}}) {
    atomic_write(target_, "old content");
    FaultyFs faulty;
    faulty.limit_writes(4);  // several writes, so the second can fail
    faulty.fail(step.op, step.nth, step.err);
    try {
      atomic_write(target_, "new content that is longer", faulty);
      ADD_FAILURE() << "no error when " << step.named << " failed";
    } catch (const OutputError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(target_), std::string::npos) << msg;
      EXPECT_NE(msg.find(step.named), std::string::npos) << msg;
      EXPECT_NE(msg.find(errno_text(step.err)), std::string::npos) << msg;
      EXPECT_EQ(e.exit_code(), 74);
    }
    EXPECT_EQ(read(target_), "old content") << "after failing " << step.named;
    EXPECT_TRUE(leftovers().empty()) << "after failing " << step.named;
  }
}

TEST_F(FilesTest, AFailedDirectoryFsyncIsReportedNotSwallowed) {
  atomic_write(target_, "old");
  FaultyFs faulty;
  faulty.fail(FaultyFs::Op::kFsync, 2, EIO);  // 1: the file, 2: the directory
  EXPECT_THROW(atomic_write(target_, "new", faulty), OutputError);
  EXPECT_EQ(read(target_), "new");  // renamed, but its durability was not confirmed
  EXPECT_TRUE(leftovers().empty());
}

TEST_F(FilesTest, AtomicWriteIntoAMissingDirectoryFailsCleanly) {
  EXPECT_THROW(atomic_write(dir_ / "no/such/file", "x"), OutputError);
}

TEST_F(FilesTest, RemoveTreeRemovesNestedDirectoriesButNotWhatALinkPointsTo) {
  const fs::path root = dir_ / "tree", keep = dir_ / "keep";
  fs::create_directories(root / "a/b");
  fs::create_directories(keep);
  std::ofstream(root / "a/b/file") << "x";
  std::ofstream(keep / "target") << "y";
  fs::create_directory_symlink(keep, root / "a/link");
  EXPECT_TRUE(remove_tree(root.string()));
  EXPECT_FALSE(fs::exists(root));
  EXPECT_TRUE(fs::exists(keep / "target"));
  EXPECT_TRUE(remove_tree(root.string())) << "a missing path is not an error";
}

TEST_F(FilesTest, TryAcquireFailsWhileAnotherHolderHasTheLock) {
  std::string path = dir_ / "lock";
  FileLock first = FileLock::acquire(path);
  ASSERT_TRUE(first.held());
  // Open-file-description locks exclude a second holder in the same process too.
  EXPECT_FALSE(FileLock::try_acquire(path).held());
  first.release();
  EXPECT_TRUE(FileLock::try_acquire(path).held());
}

TEST_F(FilesTest, ALockHeldByAnotherProcessExcludesUntilItExits) {
  std::string path = dir_ / "lock";
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    FileLock lock = FileLock::acquire(path);
    char c = 'r';
    if (::write(ready[1], &c, 1) != 1) ::_exit(2);
    if (::read(done[0], &c, 1) != 1) ::_exit(3);
    ::_exit(0);  // dies holding the lock: the kernel releases it
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  EXPECT_FALSE(FileLock::try_acquire(path).held());
  c = 'd';
  ASSERT_EQ(::write(done[1], &c, 1), 1);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(FileLock::acquire(path).held());
}

// Two processes increment a counter file under the lock; without mutual exclusion
// read-modify-write races lose increments.
TEST_F(FilesTest, TwoProcessesContendingForTheLockLoseNoUpdate) {
  std::string lock_path = dir_ / "counter.lock";
  std::string counter = dir_ / "counter";
  atomic_write(counter, "0");
  constexpr int kIterations = 300;
  auto work = [&] {
    for (int i = 0; i < kIterations; ++i) {
      FileLock lock = FileLock::acquire(lock_path);
      int value = std::stoi(read(counter));
      std::ofstream(counter, std::ios::trunc) << value + 1;
    }
  };
  pid_t children[2];
  for (pid_t& child : children) {
    child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      work();
      ::_exit(0);
    }
  }
  for (pid_t child : children) {
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(std::stoi(read(counter)), 2 * kIterations);
}

TEST_F(FilesTest, ALockThatCannotBeTakenIsAnErrorNotASilentPass) {
  FaultyFs faulty;
  faulty.fail(FaultyFs::Op::kLock, 1, ENOLCK);
  EXPECT_THROW(FileLock::acquire(dir_ / "lock", faulty), OutputError);
  FaultyFs no_open;
  no_open.fail(FaultyFs::Op::kOpen, 1, EACCES);
  EXPECT_THROW(FileLock::acquire(dir_ / "lock", no_open), OutputError);
}

}  // namespace
}  // namespace kiln::core
