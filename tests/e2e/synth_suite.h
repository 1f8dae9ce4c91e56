// A test suite whose tests share one synthetic dataset (`kiln data synth`, seed 5), made
// once for the suite at data() / "d", and give each test a fresh directory `dir`.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "run_kiln.h"
#include "tests/temp_dir.h"

namespace kiln::testing {

template <int Rows>
class SynthSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir();
    auto synth = run_kiln({"data", "synth", "--out", (data() / "d").string(), "--rows",
                           std::to_string(Rows), "--seed", "5"});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  static std::filesystem::path data() { return data_->path(); }

  TempDir dir;

 private:
  static inline TempDir* data_ = nullptr;
};

}  // namespace kiln::testing
