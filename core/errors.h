// Typed errors that carry Kiln's exit codes (docs/CLI.md, "Exit codes").
//
// Library code throws; only main() turns an error into an exit code and a last stderr
// line. KILN_CHECK is for user, data and config errors: the message says what was
// expected and what was found and names the file, column or key. KILN_ASSERT is for
// internal invariants and exits 1.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kiln {

enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,
  kGateFailed = 3,
  kDiverged = 4,
  kConflict = 5,
  kUsage = 64,
  kBadData = 65,
  kNoInput = 66,
  kUnavailable = 69,
  kIoError = 74,
  kPreempted = 75,
  kBadConfig = 78,
};

// A short lower-case name for an exit code, as written in status.json and --json output.
std::string_view exit_code_name(ExitCode code);

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }
  int exit_code() const { return static_cast<int>(code_); }

 private:
  ExitCode code_;
};

#define KILN_DEFINE_ERROR(Name, Code)                                             \
  class Name : public Error {                                                     \
   public:                                                                        \
    explicit Name(const std::string& message) : Error(ExitCode::Code, message) {} \
  }

KILN_DEFINE_ERROR(InternalError, kInternal);
KILN_DEFINE_ERROR(GateFailedError, kGateFailed);
KILN_DEFINE_ERROR(DivergedError, kDiverged);
KILN_DEFINE_ERROR(ConflictError, kConflict);
KILN_DEFINE_ERROR(UsageError, kUsage);
KILN_DEFINE_ERROR(DataError, kBadData);
KILN_DEFINE_ERROR(InputError, kNoInput);
KILN_DEFINE_ERROR(UnavailableError, kUnavailable);
KILN_DEFINE_ERROR(OutputError, kIoError);
KILN_DEFINE_ERROR(PreemptedError, kPreempted);
KILN_DEFINE_ERROR(ConfigError, kBadConfig);
#undef KILN_DEFINE_ERROR

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
[[noreturn]] void assert_fail(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace detail

// "a, b, c": a list of names in a message.
template <class C>
std::string join(const C& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

// The text of errno `err`, as strerror gives it.
std::string errno_text(int err);

}  // namespace kiln

// KILN_CHECK(cond, ErrorType, message parts...): throws ErrorType(concatenated parts).
#define KILN_CHECK(cond, ErrorType, ...)                               \
  do {                                                                 \
    if (!(cond)) throw ErrorType(::kiln::detail::concat(__VA_ARGS__)); \
  } while (0)

// KILN_ASSERT(cond, message parts...): an internal invariant; throws InternalError.
#define KILN_ASSERT(cond, ...)                                                            \
  do {                                                                                    \
    if (!(cond))                                                                          \
      ::kiln::detail::assert_fail(__FILE__, __LINE__, #cond,                              \
                                  ::kiln::detail::concat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)
