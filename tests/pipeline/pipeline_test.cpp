// The pipeline file's reader: the order of the graph, and each kind of mistake refused with
// its file, line and name (the end-to-end runs are in tests/e2e/pipeline_cli_test.cpp).
#include "pipeline/pipeline.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "tests/temp_dir.h"

namespace kiln::pipeline {
namespace {

class PipelineFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    const std::string path = (std::filesystem::path(dir.path()) / "p.yaml").string();
    std::ofstream(path) << text;
    return path;
  }
  // The ConfigError reading `steps` (under a datasets map of a and b) gives, "" when none;
  // the file's directory left out.
  std::string error(const std::string& steps) {
    return error_of_file("datasets: {a: data/a, b: data/b}\nsteps:\n" + steps);
  }
  std::string error_of_file(const std::string& text) {
    const std::string path = write(text);
    try {
      read_pipeline(path);
    } catch (const ConfigError& e) {
      std::string what = e.what();
      const std::string prefix = dir.path() + "/";
      return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
    }
    return "";
  }
  testing::TempDir dir;
};

TEST_F(PipelineFileTest, OrdersStepsAfterWhatTheyReadTiesInTheFilesOrder) {
  const Pipeline p =
      read_pipeline(write("datasets: {a: data/a, b: data/b}\n"
                          "steps:\n"
                          "  promote: {kind: promote, version: reg, data: b, after: [eval]}\n"
                          "  eval: {kind: evaluate, model: fit, data: b}\n"
                          "  check: {kind: validate, datasets: [a, b]}\n"
                          "  reg: {kind: register, model: fit, name: m, reports: [eval]}\n"
                          "  fit: {kind: fit, train: a, valid: b, after: [check]}\n"));
  EXPECT_EQ(p.order, (std::vector<std::string>{"check", "fit", "eval", "reg", "promote"}));
  EXPECT_EQ(p.inputs.at("reg"), (std::vector<std::string>{"fit", "eval"}));
  EXPECT_EQ(p.inputs.at("promote"), (std::vector<std::string>{"eval", "reg"}));
  EXPECT_EQ(p.file.steps.at("promote").to, "champion");
}

// The example the docs show reads, with its paths taken from its own directory.
TEST_F(PipelineFileTest, TheExampleFileReads) {
  const std::string configs = std::string(KILN_SOURCE_DIR) + "/configs";
  const Pipeline p = read_pipeline(configs + "/pipeline_fraud.yaml");
  EXPECT_EQ(p.order,
            (std::vector<std::string>{"check", "train", "oot", "register", "promote", "summary"}));
  EXPECT_EQ(p.file.datasets.at("oot"), std::string(KILN_SOURCE_DIR) + "/data/fraud/oot");
  EXPECT_EQ(p.file.steps.at("train").config, configs + "/fraud_mlp.yaml");
  EXPECT_EQ(p.file.registry, std::string(KILN_SOURCE_DIR) + "/registry");
}

// Models and references given as relative paths are the file's too; registry references,
// `prior` and absolute paths are left as they are.
TEST_F(PipelineFileTest, RelativeModelPathsAreTheFilesRegistryReferencesAreNot) {
  const Pipeline p = read_pipeline(
      write("datasets: {a: data/a, b: data/b}\n"
            "steps:\n"
            "  check: {kind: validate, datasets: [a], reference: models/ref}\n"
            "  fit: {kind: fit, train: a, valid: b, init: runs/old}\n"
            "  again: {kind: fit, train: a, valid: b, init: \"registry:m@champion\"}\n"
            "  eval: {kind: evaluate, model: fit, data: b,\n"
            "         baselines: [prior, old=runs/old, runs/older, /abs/run,\n"
            "                     \"champion=registry:m@champion\"]}\n"));
  const std::string here = dir.path() + "/";
  EXPECT_EQ(p.file.steps.at("check").reference, here + "models/ref");
  EXPECT_EQ(p.file.steps.at("fit").init, here + "runs/old");
  EXPECT_EQ(p.file.steps.at("again").init, "registry:m@champion");
  EXPECT_EQ(p.file.steps.at("eval").baselines,
            (std::vector<std::string>{"prior", "old=" + here + "runs/old", here + "runs/older",
                                      "/abs/run", "champion=registry:m@champion"}));
}

// A report step shows the steps it names, by default every step before it in the file.// A report
// step shows the steps it names, by default every step before it in the file.
TEST_F(PipelineFileTest, AReportShowsTheStepsBeforeItUnlessItNamesThem) {
  const Pipeline p =
      read_pipeline(write("datasets: {a: data/a, b: data/b}\n"
                          "steps:\n"
                          "  check: {kind: validate, datasets: [a]}\n"
                          "  fit: {kind: fit, train: a, valid: b}\n"
                          "  all: {kind: report}\n"
                          "  some: {kind: report, steps: [fit]}\n"));
  EXPECT_EQ(p.file.steps.at("all").steps, (std::vector<std::string>{"check", "fit"}));
  EXPECT_EQ(p.inputs.at("some"), (std::vector<std::string>{"fit"}));
  EXPECT_EQ(p.order, (std::vector<std::string>{"check", "fit", "all", "some"}));
}

TEST_F(PipelineFileTest, RefusesEachMistakeNamingWhere) {
  const std::string fit = "  fit: {kind: fit, train: a, valid: b}\n";
  EXPECT_EQ(error(fit), "");
  EXPECT_EQ(error("  fit: {kind: fit, train: a}\n"),
            "p.yaml:3: steps.fit: a fit step needs 'valid'");
  EXPECT_EQ(
      error("  fit: {kind: fit, train: a, valid: b, name: m}\n"),
      "p.yaml:3: steps.fit.name: a fit step takes no 'name' (it takes config, init, overrides, "
      "train, valid)");
  EXPECT_EQ(error("  fit: {kind: fit, train: a, valid: c}\n"),
            "p.yaml:3: steps.fit.valid: no dataset 'c' in `datasets` (did you mean 'a'?)");
  EXPECT_EQ(error("  s: {kind: sweep, train: a, valid: b}\n"),
            "p.yaml:3: steps.s: a sweep step needs 'space'");
  EXPECT_EQ(error("  s: {kind: sweep, train: a, valid: b, space: s.yaml, trials: 0}\n"),
            "p.yaml:3: steps.s.trials: trials must be 1 to 100000");
  // A sweep's model stands where a fit's does.
  EXPECT_EQ(error("  s: {kind: sweep, train: a, valid: b, space: s.yaml}\n"
                  "  e: {kind: evaluate, model: s, data: a}\n"),
            "");
  EXPECT_EQ(error(fit + "  e: {kind: evaluate, model: fat, data: a}\n"),
            "p.yaml:4: steps.e.model: no step 'fat' (did you mean 'fit'?)");
  EXPECT_EQ(error(fit + "  e: {kind: evaluate, model: e, data: a}\n"),
            "p.yaml:4: steps.e.model: a step cannot read itself");
  EXPECT_EQ(error(fit + "  r: {kind: register, model: fit, name: m}\n"
                        "  p: {kind: promote, version: fit, data: a}\n"),
            "p.yaml:5: steps.p.version: step 'fit' is of kind fit, not register");
  EXPECT_EQ(error("  x: {kind: fit, train: a, valid: b, after: [y]}\n"
                  "  y: {kind: validate, datasets: [a], after: [z]}\n"
                  "  z: {kind: validate, datasets: [a], after: [x]}\n"),
            "p.yaml:3: steps.x: a cycle: x -> y -> z -> x (each reads the next)");
  EXPECT_NE(error("  bad name: {kind: validate, datasets: [a]}\n").find("letters, digits"),
            std::string::npos);
  EXPECT_NE(error("  f: {kind: train}\n").find("steps.f.kind"), std::string::npos);
  EXPECT_EQ(error_of_file("steps: {}\n"), "p.yaml: no steps");
}

}  // namespace
}  // namespace kiln::pipeline
