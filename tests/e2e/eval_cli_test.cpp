// kiln eval, driven as a pipeline would: exit codes, reports, determinism, bad inputs, and
// the HTML report opened in headless Chromium (tests/eval/report_browser.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "run_kiln.h"
#include "tests/temp_dir.h"

namespace kiln {
namespace {

using testing::run_kiln;
using testing::TempDir;

// Labels with a 10% positive rate and two models' probabilities on the same rows.
void write_scores(const std::string& model, const std::string& old, int rows, double strength) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> noise;
  std::ofstream a(model), b(old);
  a << "id,label,score\n";
  b << "id,label,score\n";
  a.precision(12);
  b.precision(12);
  for (int i = 0; i < rows; ++i) {
    int y = rng() % 10 == 0;
    double sa = 1 / (1 + std::exp(-(noise(rng) + strength * y - 2)));
    double sb = 1 / (1 + std::exp(-(noise(rng) + 0.8 * y - 2)));
    a << i << "," << y << "," << sa << "\n";
    b << i << "," << y << "," << sb << "\n";
  }
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override { write_scores(dir / "model.csv", dir / "old.csv", 6000, 1.6); }
  TempDir dir;
};

TEST_F(EvalCli, PassingGatesExitZeroAndWriteThreeReportsThatSayTheSame) {
  auto run =
      run_kiln({"eval", "--scores", dir / "model.csv", "--baseline", "prior", "--baseline",
                "old=" + dir / "old.csv", "--gate", "auroc >= 0.75", "--gate",
                "auroc >= baseline.old.auroc - 0.002", "--gate", "ap.ci_low > baseline.prior.ap",
                "--out", dir / "report", "eval.bootstrap=200"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("report: " + dir / "report/report.html"), std::string::npos);
  auto report = nlohmann::json::parse(read(dir / "report/report.json"));
  EXPECT_EQ(report["format"], "kiln.eval_report");
  EXPECT_EQ(report["data"]["rows"], 6000);
  EXPECT_TRUE(report["passed"]);
  EXPECT_EQ(report["gates"].size(), 3u);
  EXPECT_LT(report["metrics"]["auroc"]["ci_low"].get<double>(),
            report["metrics"]["auroc"]["value"].get<double>());
  ASSERT_EQ(report["baselines"].size(), 2u);
  EXPECT_EQ(report["baselines"][0]["name"], "prior");
  EXPECT_EQ(report["baselines"][1]["comparison"]["auroc"]["test"], "DeLong");
  EXPECT_LT(report["baselines"][1]["comparison"]["auroc"]["p_value"].get<double>(), 0.01);
  EXPECT_TRUE(report["provenance"].contains("scores_sha256"));
  std::string md = read(dir / "report/report.md"), html = read(dir / "report/report.html");
  char auroc[16];
  std::snprintf(auroc, sizeof auroc, "%.4f", report["metrics"]["auroc"]["value"].get<double>());
  EXPECT_NE(md.find(std::string("| auroc | ") + auroc), std::string::npos);
  EXPECT_NE(html.find(std::string("<td>auroc</td><td>") + auroc), std::string::npos);
  EXPECT_NE(md.find("**Verdict: PASSED**"), std::string::npos);

  // The same inputs give the same bytes.
  auto again =
      run_kiln({"eval", "--scores", dir / "model.csv", "--baseline", "prior", "--baseline",
                "old=" + dir / "old.csv", "--gate", "auroc >= 0.75", "--gate",
                "auroc >= baseline.old.auroc - 0.002", "--gate", "ap.ci_low > baseline.prior.ap",
                "--out", dir / "again", "eval.bootstrap=200"});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(read(dir / "again/report.json"), read(dir / "report/report.json"));
  EXPECT_EQ(read(dir / "again/report.html"), read(dir / "report/report.html"));
}

TEST_F(EvalCli, AFailedGateExitsThreeListingEveryFailingGate) {
  auto run = run_kiln({"eval", "--scores", dir / "model.csv", "--baseline", "prior", "--gate",
                       "auroc >= 0.99", "--gate", "ece <= 0.0001", "--gate",
                       "auroc > baseline.auroc", "--out", dir / "r", "eval.bootstrap=0"});
  EXPECT_EQ(run.exit_code, 3) << run.err;
  std::string last = run.last_err_line();
  EXPECT_NE(last.find("gate_failed (exit 3): 2 gate(s) failed"), std::string::npos) << last;
  EXPECT_NE(last.find("'auroc >= 0.99'"), std::string::npos);
  EXPECT_NE(last.find("'ece <= 0.0001'"), std::string::npos);
  EXPECT_EQ(last.find("baseline.auroc"), std::string::npos);         // that one passed
  auto report = nlohmann::json::parse(read(dir / "r/report.json"));  // written all the same
  EXPECT_FALSE(report["passed"]);
}

TEST_F(EvalCli, BadGatesAndBadScoresExitWithTheirCodes) {
  auto typo = run_kiln(
      {"eval", "--scores", dir / "model.csv", "--gate", "aucroc >= 0.8", "--out", dir / "r"});
  EXPECT_EQ(typo.exit_code, 78);
  EXPECT_NE(
      typo.last_err_line().find("gate 'aucroc >= 0.8': unknown metric 'aucroc'; nearest: 'auroc'"),
      std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "r/report.json"));

  auto no_baseline = run_kiln({"eval", "--scores", dir / "model.csv", "--gate",
                               "auroc >= baseline.old.auroc", "--out", dir / "r"});
  EXPECT_EQ(no_baseline.exit_code, 78);
  EXPECT_NE(no_baseline.last_err_line().find("no such baseline for 'baseline.old.auroc'"),
            std::string::npos);

  std::ofstream(dir / "one_class.csv") << "label,score\n0,0.1\n0,0.7\n0,0.4\n";
  auto one = run_kiln({"eval", "--scores", dir / "one_class.csv", "--out", dir / "r"});
  EXPECT_EQ(one.exit_code, 65);
  EXPECT_NE(one.last_err_line().find("only one class (all negative)"), std::string::npos);

  std::ofstream(dir / "nan.csv") << "label,score\n0,0.1\n1,nan\n";
  auto nan = run_kiln({"eval", "--scores", dir / "nan.csv", "--out", dir / "r"});
  EXPECT_EQ(nan.exit_code, 65);
  EXPECT_NE(nan.last_err_line().find("nan.csv:3: column 'score' is nan; values must be finite"),
            std::string::npos)
      << nan.err;

  std::ofstream(dir / "three.csv") << "label,score\n0,0.1\n1,0.2\n2,0.3\n";
  auto three = run_kiln({"eval", "--scores", dir / "three.csv", "--out", dir / "r"});
  EXPECT_EQ(three.exit_code, 65);
  EXPECT_NE(three.last_err_line().find("three.csv:4: column 'label' is 2; binary labels must be"),
            std::string::npos)
      << three.err;
  ASSERT_EQ(run_kiln({"data", "import", "--csv", dir / "three.csv", "--out", dir / "three",
                      "--label", "label"})
                .exit_code,
            0);
  auto three_rows = run_kiln({"eval", "--scores", dir / "three", "--out", dir / "r"});
  EXPECT_EQ(three_rows.exit_code, 65);
  EXPECT_NE(three_rows.last_err_line().find(
                "part-00000.h5: column 'label' row 2 is 2; binary labels must be 0 or 1"),
            std::string::npos)
      << three_rows.err;

  std::ofstream(dir / "no_score.csv") << "label,prob\n0,0.1\n";
  auto column = run_kiln({"eval", "--scores", dir / "no_score.csv", "--out", dir / "r"});
  EXPECT_EQ(column.exit_code, 65);
  EXPECT_NE(column.last_err_line().find("no column 'score'"), std::string::npos);

  EXPECT_EQ(run_kiln({"eval", "--scores", dir / "missing.csv", "--out", dir / "r"}).exit_code, 66);
  std::ofstream(dir / "short.csv") << "label,score\n0,0.1\n1,0.9\n";
  auto other_rows = run_kiln(
      {"eval", "--scores", dir / "model.csv", "--baseline", dir / "short.csv", "--out", dir / "r"});
  EXPECT_EQ(other_rows.exit_code, 65);
  EXPECT_NE(other_rows.last_err_line().find("does not score the same rows"), std::string::npos);
}

TEST_F(EvalCli, AScoresCsvReadsQuotedFieldsWithCommasAndNewlines) {
  // model.csv with a quoted text column before the label: "customer, N" and a newline.
  std::ifstream in(dir / "model.csv");
  std::ofstream quoted(dir / "quoted.csv");
  std::string line;
  std::getline(in, line);
  quoted << "id,name,label,score\n";
  while (std::getline(in, line)) {
    const auto comma = line.find(',');
    quoted << line.substr(0, comma) << ",\"customer, " << line.substr(0, comma) << "\nsince 2020\""
           << line.substr(comma) << "\n";
  }
  quoted.close();
  auto plain = run_kiln(
      {"eval", "--scores", dir / "model.csv", "--out", dir / "a", "--json", "eval.bootstrap=0"});
  auto with_text = run_kiln(
      {"eval", "--scores", dir / "quoted.csv", "--out", dir / "b", "--json", "eval.bootstrap=0"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(with_text.exit_code, 0) << with_text.err;
  EXPECT_EQ(nlohmann::json::parse(plain.out)["metrics"],
            nlohmann::json::parse(with_text.out)["metrics"]);
  std::ofstream(dir / "open.csv") << "label,score\n0,0.1\n\"1,0.2\n";
  auto open = run_kiln({"eval", "--scores", dir / "open.csv", "--out", dir / "c"});
  EXPECT_EQ(open.exit_code, 65);
  EXPECT_NE(open.last_err_line().find("open.csv:3: a quoted field is not closed"),
            std::string::npos)
      << open.err;
}

TEST_F(EvalCli, ReadsScoresFromAKilnDataset) {
  auto import = run_kiln(
      {"data", "import", "--csv", dir / "model.csv", "--out", dir / "scores", "--label", "label"});
  ASSERT_EQ(import.exit_code, 0) << import.err;
  auto from_csv = run_kiln(
      {"eval", "--scores", dir / "model.csv", "--out", dir / "a", "--json", "eval.bootstrap=0"});
  auto from_dataset = run_kiln(
      {"eval", "--scores", dir / "scores", "--out", dir / "b", "--json", "eval.bootstrap=0"});
  ASSERT_EQ(from_dataset.exit_code, 0) << from_dataset.err;
  EXPECT_EQ(from_csv.out, kiln::testing::slurp(dir / "a/report.json"))
      << "--json prints report.json's text";
  double a = nlohmann::json::parse(from_csv.out)["metrics"]["auroc"]["value"];
  double b = nlohmann::json::parse(from_dataset.out)["metrics"]["auroc"]["value"];
  EXPECT_NEAR(a, b, 1e-6);  // the dataset stores scores as float32
}

TEST_F(EvalCli, TheHtmlReportRendersInHeadlessChromiumWithEveryPlotDrawn) {
  if (std::system("chromium --version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no chromium (scripts/setup installs Debian's chromium package)";
  }
  auto run = run_kiln({"eval", "--scores", dir / "model.csv", "--baseline", "prior", "--baseline",
                       "old=" + dir / "old.csv", "--out", dir / "r", "eval.bootstrap=100"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::string cmd = testing::python_script("tests/eval/report_browser.py") +
                    (dir / "r/report.html") + " " + (dir / "browser") + " > " +
                    (dir / "browser.json");
  int rc = std::system(cmd.c_str());
  std::string summary = read(dir / "browser.json");
  EXPECT_EQ(rc, 0) << summary;
  auto result = nlohmann::json::parse(summary);
  EXPECT_EQ(result["plots"], 4);
  for (const auto& plot : result["drawn"])
    EXPECT_TRUE(plot["drawn"]) << plot;
  EXPECT_TRUE(result["problems"].empty()) << result["problems"];
}

}  // namespace
}  // namespace kiln
