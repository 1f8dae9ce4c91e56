// Child processes: a `kiln` command started by another one (sweep trials and workers,
// pipeline steps), tied to its parent's life. POSIX only.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace kiln::core {

// Starts `argv` with `env` added to this process's environment; its stdout and stderr
// appended to `log` (inherited when empty, and stdin then stays inherited too). The child
// dies with this process (PR_SET_PDEATHSIG), so a killed parent leaves nothing running
// behind its back. With `own_group` the child runs in a process group of its own, so that a
// Ctrl-C at the terminal reaches the parent only, which decides what to pass on. InputError
// when the program cannot be started (the child reports exec's errno through a
// close-on-exec pipe). Everything the child needs is prepared before fork: it only makes
// async-signal-safe calls.
pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::string& log, bool own_group);

// `word` as one word of a POSIX shell command line: unchanged when it holds only characters
// no shell treats specially (letters, digits, and _ . / : = @ % + , -), else single-quoted
// (a ' inside as '\''). For commands run through `sh -c` and for commands printed for a
// user to paste.
std::string shell_word(const std::string& word);

// A waitpid status as an exit code: the code, or 128 + the signal that ended the process.
int exit_code_of(int status);

// A started child, killed and reaped if it is still running when this goes away.
struct Child {
  pid_t pid = -1;
  Child() = default;
  explicit Child(pid_t p) : pid(p) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  Child(Child&& other) noexcept : pid(other.pid) { other.pid = -1; }
  Child& operator=(Child&& other) noexcept;
  ~Child();
  // The exit code once it has ended, else -1.
  int poll();
};

}  // namespace kiln::core
