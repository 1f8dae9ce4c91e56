// For tests that need a GPU: skips cleanly without one, except under scripts/gpu-check,
// which sets KILN_REQUIRE_GPU=1 so that a GPU test that cannot find its GPU fails.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#define KILN_SKIP_WITHOUT_GPU(has_gpu, why)                    \
  do {                                                         \
    if (!(has_gpu)) {                                          \
      const char* require = std::getenv("KILN_REQUIRE_GPU");   \
      if (require != nullptr && std::string(require) == "1") { \
        FAIL() << "KILN_REQUIRE_GPU=1 but no GPU: " << (why);  \
      }                                                        \
      GTEST_SKIP() << "no GPU: " << (why);                     \
    }                                                          \
  } while (0)
