#include "core/process.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace kiln::core {
namespace {

// What /bin/sh makes of `word` as the argument of printf %s.
std::string through_sh(const std::string& word) {
  const std::string command = "printf %s " + shell_word(word);
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buffer[256];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    out.append(buffer, n);
  EXPECT_EQ(::pclose(pipe), 0) << command;
  return out;
}

TEST(ShellWord, PlainWordsStayAsTheyAre) {
  EXPECT_EQ(shell_word("/data/train.csv"), "/data/train.csv");
  EXPECT_EQ(shell_word("data.train=runs/a-1"), "data.train=runs/a-1");
  EXPECT_EQ(shell_word("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_word(""), "''");
}

TEST(ShellWord, TheShellReadsBackEveryWordAsGiven) {
  for (const std::string word :
       {"", "it's", "a b", "\"q\"", "back\\slash", "$HOME", "$(false)", "`false`", "*", "~", "a;b",
        "x\ny", "''", "+transform.columns.x=[drop]", "-n", "%s", "é"})
    EXPECT_EQ(through_sh(word), word) << shell_word(word);
}

}  // namespace
}  // namespace kiln::core
