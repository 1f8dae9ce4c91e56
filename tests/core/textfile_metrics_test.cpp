#include "core/textfile_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/temp_dir.h"

namespace kiln::core {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TextfileMetrics, WritesHelpTypeAndLabelledSamplesInTheOrderFirstSet) {
  kiln::testing::TempDir dir;
  const std::string path = dir / "fit.prom";
  TextfileMetrics m(path, {{"run", "r\"1\\\n"}, {"rank", "0"}});
  m.set("kiln_fit_step", "gauge", "Steps done.", 120);
  m.set("kiln_fit_state", "gauge", "State.", 1, {{"state", "running"}});
  m.set("kiln_fit_state", "gauge", "State.", 0, {{"state", "done"}});
  m.set("kiln_fit_step", "gauge", "Steps done.", 130);  // replaces
  m.set("kiln_fit_loss", "gauge", "Loss.", NAN);
  m.write();
  EXPECT_EQ(slurp(path),
            "# HELP kiln_fit_step Steps done.\n# TYPE kiln_fit_step gauge\n"
            "kiln_fit_step{run=\"r\\\"1\\\\\\n\",rank=\"0\"} 130\n"
            "# HELP kiln_fit_state State.\n# TYPE kiln_fit_state gauge\n"
            "kiln_fit_state{run=\"r\\\"1\\\\\\n\",rank=\"0\",state=\"running\"} 1\n"
            "kiln_fit_state{run=\"r\\\"1\\\\\\n\",rank=\"0\",state=\"done\"} 0\n"
            "# HELP kiln_fit_loss Loss.\n# TYPE kiln_fit_loss gauge\n"
            "kiln_fit_loss{run=\"r\\\"1\\\\\\n\",rank=\"0\"} NaN\n");
  // Nothing but the file itself is left in the directory (the temporary was renamed).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(TextfileMetrics, WithoutAPathNothingIsWritten) {
  TextfileMetrics m;
  m.set("x", "gauge", "x", 1);
  m.write();
  EXPECT_FALSE(m.enabled());
  EXPECT_EQ(m.text(), "");
}

TEST(TextfileMetrics, RankPathsPutTheRankBeforeTheExtension) {
  EXPECT_EQ(rank_path("/t/fit.prom", 0), "/t/fit.prom");
  EXPECT_EQ(rank_path("/t/fit.prom", 3), "/t/fit.rank3.prom");
  EXPECT_EQ(rank_path("fit", 1), "fit.rank1");
}

}  // namespace
}  // namespace kiln::core
