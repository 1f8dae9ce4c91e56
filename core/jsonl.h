// Appends JSON objects to a file, one a line (metrics.jsonl, journals).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace kiln::core {

// Each write() is one write(2) of one whole line to a descriptor opened with O_APPEND:
// the line reaches the OS before write() returns, and lines of concurrent writers to the
// same file do not interleave. Not thread-safe itself; one writer per thread.
class JsonLinesWriter {
 public:
  // Creates the file when missing. Throws OutputError naming the path.
  explicit JsonLinesWriter(std::string path);
  ~JsonLinesWriter();
  JsonLinesWriter(const JsonLinesWriter&) = delete;
  JsonLinesWriter& operator=(const JsonLinesWriter&) = delete;

  // Throws OutputError when the line cannot be written whole.
  void write(const nlohmann::json& record);
  // fsyncs the file: what was written survives a crash of the machine.
  void sync();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace kiln::core
