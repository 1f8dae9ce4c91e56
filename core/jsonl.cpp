#include "core/jsonl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace kiln::core {

JsonLinesWriter::JsonLinesWriter(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  KILN_CHECK(fd_ >= 0, OutputError, "cannot open '", path_, "' for appending: ", errno_text(errno));
}

JsonLinesWriter::~JsonLinesWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void JsonLinesWriter::write(const nlohmann::json& record) {
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  ssize_t n;
  do {
    n = ::write(fd_, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  KILN_CHECK(n == static_cast<ssize_t>(line.size()), OutputError, "cannot append to '", path_,
             "': ", n < 0 ? errno_text(errno) : "short write");
}

void JsonLinesWriter::sync() {
  KILN_CHECK(::fsync(fd_) == 0, OutputError, "cannot fsync '", path_, "': ", errno_text(errno));
}

}  // namespace kiln::core
