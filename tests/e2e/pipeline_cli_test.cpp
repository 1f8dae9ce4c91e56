// kiln pipeline run, as a scheduled job would run it: to a promotion on synth data, again
// with every step cached, again after one config value changed (only what reads it runs), a
// worse candidate registered but not promoted (exit 3), SIGKILL during fit and during
// register (the rerun completes, nothing registered twice, the registry verifies), and the
// exit codes of bad pipeline files.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <thread>

#include "dashboard.h"
#include "run_kiln.h"
#include "synth_suite.h"
#include "tests/temp_dir.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using testing::read_json;
using testing::run_kiln;

constexpr const char* kGood =
    "[train.steps=150, train.eval_every=50, \"model.hidden=[32, 16]\", data.batch_size=256]";
constexpr const char* kWeak =
    "[train.steps=3, train.eval_every=3, model.type=logistic, optim.lr=1.0e-5]";

class PipelineCli : public testing::SynthSuite<30000> {
 protected:
  // A pipeline file in `dir` from the check of the data to the promotion; `fit` its fit
  // step's overrides.
  // `gate`: the evaluate step's gate; given, the promote step's too (else its default).
  // `init`: the fit step's model to fine-tune.
  std::string write(const std::string& fit, const std::string& d = (data() / "d").string(),
                    const std::string& gate = "", const std::string& init = "") {
    const fs::path file = fs::path(dir.path()) / "p.yaml";
    std::ofstream(file) << "registry: " << reg() << "\n"
                        << "datasets: {train: " << d << "/train, valid: " << d
                        << "/valid, test: " << d << "/test}\n"
                        << "steps:\n"
                        << "  check: {kind: validate, datasets: [train, valid, test],\n"
                        << "          reference: \"registry:fraud@champion\",\n"
                        << "          gates: [\"drifted_columns < 1\"]}\n"
                        << "  train: {kind: fit, overrides: " << fit
                        << (init.empty() ? "" : ", init: \"" + init + "\"")
                        << ", train: train, valid: valid,\n"
                        << "          after: [check]}\n"
                        << "  test: {kind: evaluate, model: train, data: test,\n"
                        << "         baselines: [\"champion=registry:fraud@champion\"],\n"
                        << "         gates: [\""
                        << (gate.empty() ? "auroc >= baseline.auroc - 0.01" : gate) << "\"]}\n"
                        << "  register: {kind: register, model: train, name: fraud,\n"
                        << "             alias: candidate, reports: [test]}\n"
                        << "  promote: {kind: promote, version: register, data: test, "
                        << (gate.empty() ? "" : "gates: [\"" + gate + "\"], ")
                        << "after: [test]}\n";
    return file.string();
  }
  testing::KilnRun run(const std::string& file, std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"pipeline", "run", file, "--dir", out(), "--json"};
    args.insert(args.end(), more.begin(), more.end());
    return run_kiln(args);
  }
  std::string reg() const { return (fs::path(dir.path()) / "reg").string(); }
  std::string out() const { return (fs::path(dir.path()) / "out").string(); }
  // Each step's state in pipeline.json ("cached" for a cached step).
  static std::map<std::string, std::string> states(const testing::KilnRun& r) {
    std::map<std::string, std::string> out;
    const auto record = nlohmann::json::parse(r.out);
    for (const auto& s : record["steps"])
      out[s["name"]] = s.value("cached", false) ? "cached" : s["state"].get<std::string>();
    return out;
  }
  nlohmann::json registry_show(const std::string& ref) {
    const auto shown = run_kiln({"registry", "show", ref, "--registry", reg(), "--json"});
    EXPECT_EQ(shown.exit_code, 0) << shown.err;
    return nlohmann::json::parse(shown.out);
  }
  int versions() {
    const auto ls = run_kiln({"registry", "ls", "fraud", "--registry", reg(), "--json"});
    if (ls.exit_code != 0) return 0;
    return static_cast<int>(nlohmann::json::parse(ls.out).size());
  }
};

// The samples of a --metrics-file, parsed by prometheus_client: "name/state" -> value.
std::map<std::string, double> metrics_file(const fs::path& prom) {
  const fs::path parsed = prom.string() + ".json";
  const std::string cmd = testing::python_script("tests/e2e/prometheus_parse.py") + prom.string() +
                          " > " + parsed.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << testing::slurp(prom);
  std::map<std::string, double> values;
  const nlohmann::json files = nlohmann::json::parse(testing::slurp(parsed));
  for (const auto& s : files[0])
    values[s["name"].get<std::string>() + "/" + s["labels"].value("state", "")] = s["value"];
  return values;
}

TEST_F(PipelineCli, RunsToAPromotionThenCachesAndRerunsOnlyWhatAChangeReaches) {
  const std::string file = write(kGood);
  const fs::path prom = fs::path(dir.path()) / "pipeline.prom";
  const auto first = run(file, {"--metrics-file", prom.string()});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  auto values = metrics_file(prom);
  EXPECT_EQ(values["kiln_pipeline_steps/passed"], 5);
  EXPECT_EQ(values["kiln_pipeline_steps/running"], 0);
  EXPECT_EQ(values["kiln_pipeline_steps/pending"], 0);
  EXPECT_EQ(values["kiln_pipeline_state/passed"], 1);
  EXPECT_GT(values["kiln_pipeline_heartbeat_timestamp_seconds/"], 1.7e9);
  for (const std::string& name : testing::dashboard_metrics("kiln_pipeline_"))
    EXPECT_TRUE(std::any_of(values.begin(), values.end(),
                            [&](const auto& v) { return v.first.starts_with(name + "/"); }))
        << name << " in the dashboard is not written";
  using M = std::map<std::string, std::string>;
  EXPECT_EQ(states(first), (M{{"check", "passed"},
                              {"train", "passed"},
                              {"test", "passed"},
                              {"register", "passed"},
                              {"promote", "passed"}}));
  EXPECT_EQ(registry_show("fraud@champion")["version"], 1);
  EXPECT_TRUE(fs::exists(fs::path(out()) / "pipeline.json"));
  // report.html: the graph of the steps drawn, the evaluation's table, no console error.
  const fs::path html = fs::path(out()) / "report.html";
  EXPECT_NE(testing::slurp(html).find("test: the model against its baselines"), std::string::npos);
  const std::string cmd = testing::python_script("tests/eval/report_browser.py") + html.string() +
                          " " + (fs::path(dir.path()) / "browser").string() + " 1 > " +
                          (fs::path(dir.path()) / "browser.json").string();
  const int rc = std::system(cmd.c_str());
  const std::string summary = testing::slurp(fs::path(dir.path()) / "browser.json");
  EXPECT_EQ(rc, 0) << summary;

  const auto start = std::chrono::steady_clock::now();
  const auto again = run(file, {"--metrics-file", prom.string()});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  values = metrics_file(prom);
  EXPECT_EQ(values["kiln_pipeline_steps/cached"], 5);
  EXPECT_EQ(values["kiln_pipeline_steps/passed"], 0);
  for (const auto& [step, state] : states(again))
    EXPECT_EQ(state, "cached") << step;
  EXPECT_LT(seconds, 2.0);
  EXPECT_EQ(versions(), 1);

  // One value of the fit changes: the fit and everything that reads it run; the check not.
  const auto changed = run(write(std::regex_replace(kGood, std::regex("steps=150"), "steps=160")));
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  EXPECT_EQ(states(changed), (M{{"check", "cached"},
                                {"train", "passed"},
                                {"test", "passed"},
                                {"register", "passed"},
                                {"promote", "passed"}}));
  EXPECT_EQ(versions(), 2);
  EXPECT_EQ(registry_show("fraud@champion")["version"], 2);

  // --dry-run says what would run and runs nothing.
  const auto dry = run(file, {"--dry-run", "--from", "test"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(states(dry), (M{{"check", "cached"},
                            {"train", "cached"},
                            {"test", "to run"},
                            {"register", "to run"},
                            {"promote", "to run"}}));
  EXPECT_EQ(versions(), 2);
}

// A sweep step: its trials run, its best trial's config is fitted, and that model is what
// the steps after it evaluate and register; the rerun is cached.
TEST_F(PipelineCli, ASweepStepFitsItsBestConfigForTheStepsAfterIt) {
  const std::string d = (data() / "d").string();
  const fs::path file = fs::path(dir.path()) / "sweep.yaml";
  std::ofstream(file)
      << "registry: " << reg() << "\n"
      << "datasets: {train: " << d << "/train, valid: " << d << "/valid, test: " << d << "/test}\n"
      << "steps:\n"
      << "  search: {kind: sweep, space: " << KILN_SOURCE_DIR
      << "/configs/fraud_space.yaml, trials: 3, workers: 2,\n"
      << "           overrides: [train.steps=40, train.eval_every=20],\n"
      << "           train: train, valid: valid}\n"
      << "  test: {kind: evaluate, model: search, data: test}\n"
      << "  register: {kind: register, model: search, name: fraud, reports: [test]}\n"
      << "  shown: {kind: report}\n";
  const auto r = run(file.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  using M = std::map<std::string, std::string>;
  EXPECT_EQ(
      states(r),
      (M{{"search", "passed"}, {"test", "passed"}, {"register", "passed"}, {"shown", "passed"}}));
  const auto record = nlohmann::json::parse(r.out);
  const auto& outputs = record["steps"][0]["outputs"];
  EXPECT_TRUE(fs::exists(fs::path(outputs["config"].get<std::string>())));
  EXPECT_TRUE(fs::exists(fs::path(outputs["sweep"].get<std::string>()) / "journal.jsonl"));
  const std::string shown =
      testing::slurp(record["steps"][3]["outputs"]["report"].get<std::string>());
  EXPECT_NE(shown.find("test: the model against its baselines"), std::string::npos);
  const auto card = registry_show("fraud/v1")["card"];
  EXPECT_NE(card["source"].dump().find(outputs["run"].get<std::string>()), std::string::npos)
      << card["source"];
  for (const auto& [step, state] : states(run(file.string())))
    EXPECT_EQ(state, "cached") << step;
}

// A step that fails stops the pipeline with its code and the last line of its log.
TEST_F(PipelineCli, AFailingStepStopsItWithTheStepsCodeAndReason) {
  const auto r = run(write("[train.stepz=5]"));
  EXPECT_EQ(r.exit_code, 78) << r.err;
  EXPECT_NE(r.last_err_line().find("step 'train': "), std::string::npos) << r.err;
  EXPECT_NE(r.last_err_line().find("train.stepz"), std::string::npos) << r.err;
  EXPECT_NE(r.last_err_line().find("(exit 78)"), std::string::npos) << r.err;
  using M = std::map<std::string, std::string>;
  EXPECT_EQ(states(r), (M{{"check", "passed"}, {"train", "failed"}}));
}

// --when-drift: undrifted data runs nothing; covariate drift runs the pipeline on the new
// data, and the new champion's reference profile is that data's (it no longer drifts).
TEST_F(PipelineCli, WhenDriftRunsOnlyOnDriftAndTheNewChampionKnowsTheNewData) {
  ASSERT_EQ(run(write(kGood)).exit_code, 0);
  const auto quiet = run(write(kGood), {"--when-drift", "test"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  const auto record = nlohmann::json::parse(quiet.out);
  EXPECT_FALSE(record["trigger"]["run"].get<bool>());
  EXPECT_TRUE(record["steps"].empty());
  EXPECT_NE(quiet.err.find("nothing to run"), std::string::npos) << quiet.err;
  // What the check found, in the reason: the columns counted, the scores' drift.
  EXPECT_TRUE(std::regex_search(quiet.err.c_str(),
                                std::regex("passed; [0-9]+ of [0-9]+ columns drifted.*; the "
                                           "scores (did not )?drift")))
      << quiet.err;

  const std::string drifted = (fs::path(dir.path()) / "drifted").string();
  ASSERT_EQ(run_kiln({"data", "synth", "--out", drifted, "--rows", "30000", "--seed", "6",
                      "--drift", "covariate", "--drift-at", "0"})
                .exit_code,
            0);
  // Any model of the new data is taken (these small synth models score near chance on the
  // shifted split either way): what is shown is the trigger and the new reference.
  const std::string file = write(kGood, drifted, "auroc >= 0");
  const auto moved = run(file, {"--when-drift", "test"});
  ASSERT_EQ(moved.exit_code, 0) << moved.err << moved.out;
  const auto trigger = nlohmann::json::parse(moved.out)["trigger"];
  EXPECT_TRUE(trigger["run"].get<bool>());
  EXPECT_TRUE(std::regex_search(trigger["reason"].get<std::string>(),
                                std::regex("; [1-9][0-9]* of [0-9]+ columns drifted \\([a-z]")))
      << trigger["reason"];
  EXPECT_EQ(states(moved)["promote"], "passed");
  EXPECT_NE(
      testing::slurp(fs::path(out()) / "report.html").find("check: drift against the reference"),
      std::string::npos);
  EXPECT_EQ(registry_show("fraud@champion")["version"], 2);
  const auto after =
      run_kiln({"drift", "--reference", "registry:fraud@champion", "--registry", reg(), "--data",
                drifted + "/test", "--out", (fs::path(dir.path()) / "check").string(), "--gate",
                "drifted_columns < 1"});
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
}

TEST_F(PipelineCli, AFitStepFineTunesTheChampionOnceThereIsOne) {
  // The first run has no champion: the fit step trains from scratch and says so.
  const auto first = run(write(kGood, (data() / "d").string(), "", "registry:fraud@champion"));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto step = [](const testing::KilnRun& r, const std::string& name) {
    const auto record = nlohmann::json::parse(r.out);
    for (const auto& s : record["steps"])
      if (s["name"] == name) return s;
    return nlohmann::json();
  };
  EXPECT_EQ(step(first, "train")["outputs"]["init_absent"], "registry:fraud@champion");
  EXPECT_FALSE(
      read_json(fs::path(step(first, "train")["outputs"]["run"].get<std::string>()) / "run.json")
          .contains("initialized_from"));
  EXPECT_EQ(registry_show("fraud@champion")["version"], 1);

  // New rows: the fit step fine-tunes v1, and v2's card says so.
  const std::string later = (fs::path(dir.path()) / "later").string();
  ASSERT_EQ(run_kiln({"data", "synth", "--out", later, "--rows", "30000", "--seed", "7"}).exit_code,
            0);
  const auto second = run(write(kGood, later, "auroc >= 0", "registry:fraud@champion"));
  ASSERT_EQ(second.exit_code, 0) << second.err << second.out;
  const auto train = step(second, "train");
  EXPECT_FALSE(train["outputs"].contains("init_absent")) << train;
  const auto from = read_json(fs::path(train["outputs"]["run"].get<std::string>()) /
                              "run.json")["initialized_from"];
  EXPECT_EQ(from["registry"]["version_ref"], "fraud/v1") << from;
  EXPECT_EQ(registry_show("fraud/v2")["card"]["parent"], "fraud/v1");
  EXPECT_EQ(registry_show("fraud@champion")["version"], 2);
}

TEST_F(PipelineCli, AWorseCandidateIsRegisteredButNotPromoted) {
  ASSERT_EQ(run(write(kGood)).exit_code, 0);
  const auto weak = run(write(kWeak));
  EXPECT_EQ(weak.exit_code, 3) << weak.err;
  using M = std::map<std::string, std::string>;
  EXPECT_EQ(states(weak), (M{{"check", "cached"},
                             {"train", "passed"},
                             {"test", "gated"},
                             {"register", "passed"},
                             {"promote", "skipped"}}));
  EXPECT_NE(weak.last_err_line().find("step 'test': 1 gate(s) failed: 'auroc >= baseline.auroc"),
            std::string::npos)
      << weak.err;
  EXPECT_EQ(registry_show("fraud@champion")["version"], 1);
  EXPECT_EQ(registry_show("fraud@candidate")["version"], 2);
  // The candidate carries its evaluation; the rerun is cached and still says why.
  EXPECT_EQ(registry_show("fraud/v2")["card"]["evals"].size(), 1u);
  const auto rerun = run(write(kWeak));
  EXPECT_EQ(rerun.exit_code, 3);
  EXPECT_EQ(versions(), 2);
}

// SIGKILL twice during the fit, then during the register step at several moments, and a kill
// between the register command and the step's record: the same command then completes, with
// one version registered and a registry that verifies.
// A second run of a pipeline directory while one runs (a scheduler starting the next run
// early) is refused, naming the first, and changes nothing; the first finishes as if alone.
TEST_F(PipelineCli, ASecondRunOfTheDirectoryIsRefusedWhileOneRuns) {
  const std::string file = write(kGood);
  auto first = testing::start_kiln({"pipeline", "run", file, "--dir", out(), "--json"});
  const fs::path lock = fs::path(out()) / "pipeline.lock";
  for (int i = 0; i < 600 && (!fs::exists(lock) || fs::file_size(lock) == 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto second = run(file);
  EXPECT_EQ(second.exit_code, 74) << second.err;
  EXPECT_NE(second.last_err_line().find("is in use by another kiln pipeline run (pid " +
                                        std::to_string(first.pid) + " on "),
            std::string::npos)
      << second.err;
  const auto done = testing::wait_kiln(first);
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(read_json(fs::path(out()) / "pipeline.json")["exit_code"], 0);
  EXPECT_EQ(versions(), 1);
  for (const auto& [step, state] : states(run(file)))
    EXPECT_EQ(state, "cached") << step;
}

TEST_F(PipelineCli, AKilledRunResumesAndRegistersOnce) {
  const std::string file = write(
      "[train.steps=600, train.eval_every=20, \"model.hidden=[64, 64]\", data.batch_size=64]");
  // Whether the kill left a fit with checkpoints and no record (it was killed mid-fit).
  auto killed_mid_fit = [&] {
    const fs::path steps = fs::path(out()) / "steps/train";
    if (!fs::exists(steps)) return 0;
    for (const auto& key : fs::directory_iterator(steps))
      if (!fs::exists(key.path() / "step.json") &&
          fs::exists(key.path() / "pipeline/train/checkpoints/latest"))
        return 1;
    return 0;
  };
  // The fit's newest checkpoint ("" before the first).
  auto latest = [&] {
    const fs::path steps = fs::path(out()) / "steps/train";
    if (!fs::exists(steps)) return std::string();
    for (const auto& key : fs::directory_iterator(steps))
      if (const fs::path p = key.path() / "pipeline/train/checkpoints/latest"; fs::exists(p))
        return testing::slurp(p);
    return std::string();
  };
  // Twice as soon as the fit has written a checkpoint newer than at the kill before.
  int mid_fit = 0;
  for (int kill = 0; kill < 2; ++kill) {
    const std::string before = latest();
    auto child = testing::start_kiln({"pipeline", "run", file, "--dir", out()});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (latest() == before && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ::kill(child.pid, SIGKILL);
    testing::wait_kiln(child);
    mid_fit += killed_mid_fit();
  }
  EXPECT_EQ(mid_fit, 2) << "a kill did not land while the fit ran";
  auto register_dir = [&]() -> std::optional<fs::path> {
    const fs::path steps = fs::path(out()) / "steps/register";
    if (!fs::exists(steps)) return std::nullopt;
    for (const auto& key : fs::directory_iterator(steps))
      return key.path();
    return std::nullopt;
  };
  // Then a kill of `kiln registry register` between its version's rename and its journal line
  // (the version is on disk, unrecorded, without its alias): the next run must find it by its
  // tag rather than register a second one.
  auto renamed = testing::run_kiln({"pipeline", "run", file, "--dir", out()},
                                   {{"KILN_TEST_KILL_AT", "renamed"}});
  EXPECT_NE(renamed.exit_code, 0) << renamed.out << renamed.err;
  EXPECT_TRUE(fs::exists(fs::path(reg()) / "fraud/versions/v1"));
  ASSERT_TRUE(register_dir());
  EXPECT_FALSE(fs::exists(*register_dir() / "step.json"));
  // Then kills during the register step (its recovery of v1 and the alias's move): each once
  // its log appears, a little later each time, until one run gets through it.
  for (int delay_ms : {0, 20, 60, 150, 400}) {
    if (const auto d = register_dir(); d && fs::exists(*d / "step.json")) break;
    auto child = testing::start_kiln({"pipeline", "run", file, "--dir", out()});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!(register_dir() && fs::exists(*register_dir() / "log.txt")) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(child.pid, SIGKILL);
    testing::wait_kiln(child);
  }
  const auto done = run(file);
  ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
  EXPECT_EQ(versions(), 1);
  EXPECT_EQ(registry_show("fraud@champion")["version"], 1);
  const auto verify = run_kiln({"registry", "verify", "--registry", reg()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const auto again = run(file);
  for (const auto& [step, state] : states(again))
    EXPECT_EQ(state, "cached") << step;

  // A kill after `kiln registry register` finished and before the step's record was written:
  // the rerun finds the version it made (tagged with the step's key) instead of a second one.
  const auto record = read_json(fs::path(out()) / "pipeline.json");
  for (const auto& s : record["steps"])
    if (s["name"] == "register" || s["name"] == "promote")
      fs::remove(fs::path(out()) / "steps" / s["name"].get<std::string>() /
                 s["key"].get<std::string>() / "step.json");
  // ... and one between the version's registration and its alias's move.
  ASSERT_EQ(run_kiln({"registry", "alias", "rm", "fraud@candidate", "--registry", reg()}).exit_code,
            0);
  const auto rerun = run(file);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(states(rerun)["register"], "passed");
  EXPECT_EQ(versions(), 1);
  EXPECT_EQ(registry_show("fraud@candidate")["version"], 1);
  EXPECT_EQ(registry_show("fraud@champion")["version"], 1);
}

TEST_F(PipelineCli, BadFilesExitBeforeAnyWorkNamingWhatIsWrong) {
  struct Case {
    std::string from, to;
    int code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"after: [check]", "after: [promote]", 78, "a cycle: train -> promote -> test -> train"},
      {"kind: fit", "kind: fitt", 78,
       "expects one of validate, fit, sweep, evaluate, register, promote or report, got 'fitt'"},
      {"model: train, data", "model: trian, data", 78, "no step 'trian' (did you mean 'train'?)"},
      {"model: train, name", "model: test, name", 78, "step 'test' is of kind evaluate, not fit"},
      {"data: test,\n", "data: tset,\n", 78, "no dataset 'tset' in `datasets`"},
      {"alias: candidate,", "alias: candidate, colour: red,", 78, "steps.register.colour"},
      {"d/test}", "d/nothere}", 66, "datasets.test: "},
      {"champion=registry:fraud@champion", "champion=registry:other@champion", 66,
       "registry:other@champion: no model 'other'"},
      // An alias no step of the pipeline sets must be there (a typo is not a first run).
      {"champion=registry:fraud@champion", "champion=registry:fraud@champoin", 66,
       "steps.test: registry:fraud@champoin: "},
  };
  const std::string good = testing::slurp(write(kGood));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.to);
    std::string text = good;
    const std::size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, c.from.size(), c.to);
    const fs::path bad = fs::path(dir.path()) / "bad.yaml";
    std::ofstream(bad) << text;
    const auto r = run_kiln({"pipeline", "run", bad.string(), "--dir", out()});
    EXPECT_EQ(r.exit_code, c.code) << r.err;
    EXPECT_NE(r.last_err_line().find(c.says), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(fs::path(out()) / "steps")) << "work was done";
  }
  const auto missing = run_kiln({"pipeline", "run", (fs::path(dir.path()) / "none.yaml").string()});
  EXPECT_EQ(missing.exit_code, 66) << missing.err;
}

}  // namespace
}  // namespace kiln
