// Runs the kiln binary as a user or a pipeline would, capturing exit code and output.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::testing {

struct KilnRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  // The last non-empty line on stderr: where kiln says why it failed.
  std::string last_err_line() const {
    std::istringstream lines(err);
    std::string line, last;
    while (std::getline(lines, line)) {
      if (!line.empty()) last = line;
    }
    return last;
  }
};

// A kiln process started by start_kiln, to signal and then wait for.
struct KilnChild {
  pid_t pid = -1;
  std::string out_path, err_path;
};

// Starts `program` (a path) with `args`; `env` entries are set in the child (value ""
// unsets). Runs in `cwd` when given.
inline KilnChild start_program(const std::string& program, const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env = {},
                               const std::string& cwd = "") {
  namespace fs = std::filesystem;
  static int counter = 0;
  fs::path base = fs::temp_directory_path() /
                  ("kiln_e2e_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::string out_path = base.string() + ".out", err_path = base.string() + ".err";
  pid_t child = ::fork();
  if (child == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    int null_in = ::open("/dev/null", O_RDONLY);
    ::dup2(null_in, 0);
    for (const auto& [k, v] : env) {
      if (v.empty())
        ::unsetenv(k.c_str());
      else
        ::setenv(k.c_str(), v.c_str(), 1);
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
    std::vector<char*> argv{const_cast<char*>(program.c_str())};
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  return {child, out_path, err_path};
}

// Starts kiln with `args` (see start_program).
inline KilnChild start_kiln(const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env = {},
                            const std::string& cwd = "") {
  return start_program(KILN_BINARY, args, env, cwd);
}

// The whole content of a file ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A JSON file, parsed (throws when it is missing or malformed).
inline nlohmann::json read_json(const std::filesystem::path& path) {
  return nlohmann::json::parse(slurp(path));
}

// Waits for the child; its exit code (128 + signal when a signal ended it) and output.
inline KilnRun wait_kiln(const KilnChild& child) {
  namespace fs = std::filesystem;
  KilnRun run;
  int status = 0;
  ::waitpid(child.pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = slurp(child.out_path);
  run.err = slurp(child.err_path);
  fs::remove(child.out_path);
  fs::remove(child.err_path);
  return run;
}

inline KilnRun run_kiln(const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& env = {},
                        const std::string& cwd = "") {
  return wait_kiln(start_kiln(args, env, cwd));
}

// The start of a shell command that runs the repository's Python script `script` (a path
// from the source root) with the project's Python: append arguments and redirections.
inline std::string python_script(const std::string& script) {
  return std::string(KILN_PYTHON) + " " + KILN_SOURCE_DIR + "/" + script + " ";
}

}  // namespace kiln::testing
