#include "core/jsonl.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "tests/temp_dir.h"

namespace kiln::core {
namespace {

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);)
    out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(JsonLines, EachRecordIsOneLineVisibleBeforeTheWriterCloses) {
  kiln::testing::TempDir dir;
  std::string path = dir / "metrics.jsonl";
  JsonLinesWriter writer(path);
  writer.write({{"step", 1}, {"loss", 0.5}, {"note", "line\nbreak"}});
  auto lines = read_lines(path);  // read while the writer is still open
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["note"], "line\nbreak");
  writer.write({{"step", 2}});
  writer.sync();
  EXPECT_EQ(read_lines(path).size(), 2u);
}

TEST(JsonLines, ConcurrentWritersFromTwoProcessesDoNotInterleaveLines) {
  kiln::testing::TempDir dir;  // children _exit, so only the parent removes it
  std::string path = dir / "journal.jsonl";
  constexpr int kLines = 500;
  pid_t children[2];
  for (int w = 0; w < 2; ++w) {
    children[w] = ::fork();
    ASSERT_GE(children[w], 0);
    if (children[w] == 0) {
      JsonLinesWriter writer(path);
      for (int i = 0; i < kLines; ++i)
        writer.write({{"writer", w}, {"i", i}, {"pad", std::string(300, 'p')}});
      ::_exit(0);
    }
  }
  for (pid_t child : children)
    ::waitpid(child, nullptr, 0);
  auto lines = read_lines(path);  // throws on any torn line
  ASSERT_EQ(lines.size(), 2u * kLines);
  int next[2] = {0, 0};
  for (const auto& line : lines) {
    int w = line["writer"];
    EXPECT_EQ(line["i"], next[w]++);
  }
}

TEST(JsonLines, AnUnwritableFileIsAnOutputError) {
  EXPECT_THROW(JsonLinesWriter("/nonexistent-dir/metrics.jsonl"), OutputError);
}

}  // namespace
}  // namespace kiln::core
