// Watching runs where users already look (issue 30): TensorBoard's own reader reads Kiln's
// event files back, a resumed run's curves have each step once, prometheus_client parses the
// metrics file at every moment of a run killed with SIGKILL, and the run report renders in
// headless Chromium with every curve drawn.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "dashboard.h"
#include "fit_suite.h"
#include "run_kiln.h"
#include "tests/temp_dir.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::read_json;
using testing::run_kiln;
using testing::slurp;

// metrics.jsonl's lines.
std::vector<json> metric_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(json::parse(line));
  return lines;
}

// What a Python helper prints on stdout, parsed; fails the test when it exits non-zero.
json python_json(const std::string& script, const std::string& args, const fs::path& out) {
  const std::string cmd = testing::python_script(script) + args + " > " + out.string();
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  return rc == 0 ? json::parse(slurp(out)) : json();
}

std::vector<int64_t> steps_of(const json& series) {
  std::vector<int64_t> steps;
  for (const json& point : series)
    steps.push_back(point[0].get<int64_t>());
  return steps;
}

class WatchCli : public testing::FitSuite<20000> {
 protected:
  // FitSuite's runs with a train/loss point every 10 steps.
  std::vector<std::string> fit_args(const std::string& name, int steps, int every,
                                    std::vector<std::string> extra = {}) const {
    extra.push_back("log.tensorboard_every=10");
    return FitSuite::fit_args(name, steps, every, std::move(extra));
  }
  json tensorboard(const std::string& name) const {
    return python_json("tests/e2e/tensorboard_read.py", run_dir(name).string(),
                       fs::path(dir.path()) / (name + ".tb.json"));
  }
};

// Every scalar of every evaluation is in TensorBoard at its step with metrics.jsonl's value
// (as a float32), and train/loss and lr have a point every log.tensorboard_every steps.
TEST_F(WatchCli, TensorBoardReadsEveryScalarKilnWroteAtItsStep) {
  auto fit = run_kiln(fit_args("a", 120, 40));
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const json tb = tensorboard("a");
  const std::vector<json> lines = metric_lines(run_dir("a") / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  int compared = 0;
  for (const auto& [key, value] : lines[0].items()) {
    if (!value.is_number() || key == "step" || key == "train/loss" || key == "lr") continue;
    ASSERT_TRUE(tb.contains(key)) << key << " is not in TensorBoard: " << tb.dump();
    ASSERT_EQ(steps_of(tb[key]), (std::vector<int64_t>{40, 80, 120})) << key;
    for (std::size_t i = 0; i < lines.size(); ++i)
      EXPECT_EQ(tb[key][i][1].get<float>(), static_cast<float>(lines[i][key].get<double>()))
          << key << " at step " << lines[i]["step"];
    ++compared;
  }
  EXPECT_GE(compared, 6);  // val/auroc, val/ap, val/log_loss, rows_per_s, epoch, waits
  std::vector<int64_t> every_10;
  for (int s = 10; s <= 120; s += 10)
    every_10.push_back(s);
  EXPECT_EQ(steps_of(tb["train/loss"]), every_10);
  EXPECT_EQ(steps_of(tb["lr"]), every_10);
  for (const json& point : tb["train/loss"])
    EXPECT_TRUE(std::isfinite(point[1].get<double>()) && point[1].get<double>() > 0);
  // An evaluation's train/loss (the mean since the last one) is the mean of its 10-step points.
  double sum = 0;
  for (int i = 4; i < 8; ++i)
    sum += tb["train/loss"][i][1].get<double>();
  EXPECT_NEAR(sum / 4, lines[1]["train/loss"].get<double>(), 1e-5);
}

// SIGTERM mid-run, then --resume auto: one event file, each step once in every curve, the
// evaluations' scalars at exactly metrics.jsonl's steps; and the run's report was written.
TEST_F(WatchCli, AResumedRunsCurvesHaveEachStepOnce) {
  const std::vector<std::string> resumable = {"--resume", "auto"};
  auto child = testing::start_kiln(fit_args("r", 400, 40, resumable));
  for (int i = 0; i < 6000 && metric_lines(run_dir("r") / "metrics.jsonl").size() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(child.pid, SIGTERM);
  auto stopped = testing::wait_kiln(child);
  ASSERT_EQ(stopped.exit_code, 75) << stopped.err;
  const int stopped_at = read_json(run_dir("r") / "status.json")["step"].get<int>();
  EXPECT_EQ(read_json(run_dir("r") / "status.json")["preemptions"], 1);
  auto resumed = run_kiln(fit_args("r", 400, 40, resumable));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;

  int event_files = 0;
  for (const auto& e : fs::directory_iterator(run_dir("r")))
    event_files += e.path().filename().string().starts_with("events.out.tfevents.");
  EXPECT_EQ(event_files, 1);
  const json tb = tensorboard("r");
  for (const auto& [tag, series] : tb.items()) {
    const std::vector<int64_t> steps = steps_of(series);
    EXPECT_TRUE(std::adjacent_find(steps.begin(), steps.end(),
                                   [](int64_t a, int64_t b) { return a >= b; }) == steps.end())
        << tag << " has a step twice or out of order: " << series.dump();
  }
  std::vector<int64_t> evaluations;
  for (const json& line : metric_lines(run_dir("r") / "metrics.jsonl"))
    evaluations.push_back(line["step"].get<int64_t>());
  EXPECT_EQ(steps_of(tb["val/auroc"]), evaluations);
  std::set<int64_t> loss_steps;
  for (int64_t s : steps_of(tb["train/loss"]))
    loss_steps.insert(s);
  for (int s = 10; s <= 400; s += 10)
    EXPECT_TRUE(loss_steps.count(s)) << "no train/loss point at step " << s;
  EXPECT_LE(loss_steps.size(), 41u) << "at most the stop's step besides every 10th";
  EXPECT_TRUE(loss_steps.count(stopped_at) || stopped_at % 10 == 0);
  EXPECT_TRUE(fs::exists(run_dir("r") / "reports/run.html"));
}

// The metrics file is read over and over while kiln fit rewrites it, until a SIGKILL: every
// content read is whole (it parses, with HELP and TYPE, every family there), and after the
// kill the file is still whole.
TEST_F(WatchCli, TheMetricsFileParsesAtEveryMomentAndAfterASigkill) {
  const fs::path prom = fs::path(dir.path()) / "textfile/fit.prom";
  fs::create_directories(prom.parent_path());
  auto child = testing::start_kiln(
      fit_args("p", 100000, 10,
               {"--metrics-file", prom.string(), "run.experiment=watched", "train.patience=0"}));
  std::set<std::string> seen;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(8)) {
    if (fs::exists(prom)) seen.insert(slurp(prom));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::kill(child.pid, SIGKILL);
  auto killed = testing::wait_kiln(child);
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
  seen.insert(slurp(prom));
  ASSERT_GE(seen.size(), 5u) << "expected the file rewritten several times in 8 s";
  std::string files;
  int i = 0;
  for (const std::string& content : seen) {
    const fs::path copy = fs::path(dir.path()) / ("seen" + std::to_string(i++) + ".prom");
    std::ofstream(copy) << content;
    files += " " + copy.string();
  }
  const json parsed =
      python_json("tests/e2e/prometheus_parse.py", files, fs::path(dir.path()) / "parsed.json");
  ASSERT_EQ(parsed.size(), seen.size());
  std::set<std::string> names;
  double best_seen = 0;
  for (const json& samples : parsed)
    for (const json& s : samples) {
      names.insert(s["name"].get<std::string>());
      EXPECT_EQ(s["labels"]["run"], "p");
      EXPECT_EQ(s["labels"]["experiment"], "watched");
      EXPECT_EQ(s["labels"]["rank"], "0");
      EXPECT_TRUE(s["timestamp"].is_null());
      if (s["name"] == "kiln_fit_best_validation") {
        EXPECT_EQ(s["labels"]["metric"], "auroc");
        best_seen = std::max(best_seen, s["value"].get<double>());
      }
    }
  for (const char* name :
       {"kiln_fit_step", "kiln_fit_state", "kiln_fit_heartbeat_timestamp_seconds",
        "kiln_fit_preemptions_total", "kiln_fit_checkpoints_written_total", "kiln_fit_train_loss",
        "kiln_fit_rows_per_second", "kiln_fit_best_validation"})
    EXPECT_TRUE(names.count(name)) << name;
  EXPECT_GT(best_seen, 0.5);
  // The Grafana dashboard's queries use only metrics the file has.
  const std::set<std::string> queried = testing::dashboard_metrics("kiln_fit_");
  EXPECT_GE(queried.size(), 8u);
  for (const std::string& name : queried)
    EXPECT_TRUE(names.count(name)) << name << " in the dashboard is not written";
}

// reports/run.html of a finished run, and two runs compared, render in headless Chromium
// without console errors and with every chart drawn.
TEST_F(WatchCli, TheRunReportRendersWithEveryCurveDrawn) {
  if (std::system("command -v chromium >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "no chromium (scripts/setup installs it)";
  ASSERT_EQ(run_kiln(fit_args("one", 80, 20)).exit_code, 0);
  ASSERT_EQ(run_kiln(fit_args("two", 80, 20, {"optim.lr=0.01"})).exit_code, 0);
  const fs::path compared = fs::path(dir.path()) / "compared.html";
  auto report = run_kiln(
      {"report", run_dir("one").string(), run_dir("two").string(), "--out", compared.string()});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  for (const fs::path& page : {run_dir("one") / "reports/run.html", compared}) {
    const std::string html = slurp(page);
    for (const char* curve :
         {"train/loss", "val/auroc", "val/ap", "val/log_loss", "lr", "rows_per_s", "data_wait_s"})
      EXPECT_NE(html.find(std::string("aria-label=\"") + curve + "\""), std::string::npos)
          << page << " has no chart of " << curve;
    EXPECT_NE(html.find("best step"), std::string::npos);
    EXPECT_NE(html.find("step_00000080"), std::string::npos);
    // The model: the refit on train and valid (train.refit: auto on this small table).
    EXPECT_NE(html.find("<td>refit/checkpoints/step_"), std::string::npos);
    std::size_t plots = 0;
    for (std::size_t at = html.find("<svg"); at != std::string::npos;
         at = html.find("<svg", at + 1))
      ++plots;
    const json summary =
        python_json("tests/eval/report_browser.py",
                    page.string() + " " + (fs::path(dir.path()) / "browser").string() + " " +
                        std::to_string(plots),
                    fs::path(dir.path()) / "browser.json");
    EXPECT_TRUE(summary["problems"].empty()) << summary.dump();
  }
  EXPECT_NE(slurp(compared).find("Kiln runs: 2 compared"), std::string::npos);
}

TEST_F(WatchCli, AReportOfWhatIsNotARunSaysWhy) {
  auto missing = run_kiln({"report", (fs::path(dir.path()) / "nothing").string()});
  EXPECT_EQ(missing.exit_code, 66) << missing.err;
  EXPECT_NE(missing.last_err_line().find("is not a run directory"), std::string::npos);
  ASSERT_EQ(run_kiln(fit_args("b", 20, 10)).exit_code, 0);
  auto several = run_kiln({"report", run_dir("b").string(), run_dir("b").string()});
  EXPECT_EQ(several.exit_code, 64) << several.err;
  std::ofstream(run_dir("b") / "metrics.jsonl", std::ios::app) << "{\"step\": 3\n";
  auto broken = run_kiln({"report", run_dir("b").string()});
  EXPECT_EQ(broken.exit_code, 65) << broken.err;
  EXPECT_NE(broken.last_err_line().find("metrics.jsonl:3"), std::string::npos) << broken.err;
}

}  // namespace
}  // namespace kiln
