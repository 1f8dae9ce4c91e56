#include "core/progress.h"

#include <gtest/gtest.h>

namespace kiln::core {
namespace {

TEST(Progress, DrawsOnlyOnATerminalWithoutCiOrNoColor) {
  EXPECT_TRUE(progress_enabled_for(true, nullptr, nullptr));
  EXPECT_FALSE(progress_enabled_for(false, nullptr, nullptr));
  EXPECT_FALSE(progress_enabled_for(true, "true", nullptr));
  EXPECT_FALSE(progress_enabled_for(true, nullptr, "1"));
  EXPECT_FALSE(progress_enabled_for(true, "", nullptr));  // set, even if empty
}

TEST(Progress, RendersFractionCountsStatusAndEta) {
  std::string line = render_progress("fit", 250, 1000, 10.0, "loss 0.31", 100);
  EXPECT_EQ(line, "fit [#######-----------------------]  25% 250/1000 loss 0.31 ETA 0:30");
  std::string full = render_progress("fit", 1000, 1000, 75.0, "", 100);
  EXPECT_TRUE(full.starts_with("fit [" + std::string(30, '#') + "]")) << full;
  EXPECT_TRUE(full.ends_with(" 100% 1000/1000 1:15")) << full;
  EXPECT_EQ(render_progress("scan", 42, 0, 3661.0, "rows", 100), "scan 42 rows 1:01:01");
  EXPECT_LE(render_progress("fit", 1, 2, 1.0, "a very long status text", 20).size(), 20u);
}

}  // namespace
}  // namespace kiln::core
