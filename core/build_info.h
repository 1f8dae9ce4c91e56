// What this binary is: version, source revision and the compiler that built it.
#pragma once

#include <string>

namespace kiln::core {

struct BuildInfo {
  std::string version;       // project version, e.g. "0.1.0"
  std::string git_revision;  // `git describe --always --dirty` at build time, or "unknown"
  std::string compiler;      // e.g. "GNU 12.2.0"
  std::string build_type;    // CMake build type
};

const BuildInfo& build_info();

}  // namespace kiln::core
