// kiln data fit-transform | transform, driven as a user or pipeline would, and checked
// against the independent numpy implementation in tests/kernels/transform_numpy.py.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_kiln.h"
#include "tests/temp_dir.h"

namespace kiln {
namespace {

using testing::run_kiln;
using testing::TempDir;

const char* kConfig = R"yaml(transform:
  columns:
    amount: [log1p, impute(mean), standardize(z), "clip(value, low=-4, high=4)"]
    session_*:
      - log1p
      - impute(median, indicator=true)
      - bucketize(8)
    merchant: ["hash(97, seed=5)"]
    country: ["vocabulary(top_k=5)"]
    noise_2: [drop]
    noise_*: [standardize(robust), "clip(smooth, bound=2)"]
)yaml";

class TransformCli : public ::testing::Test {
 protected:
  void SetUp() override {
    auto synth = run_kiln({"data", "synth", "--out", dir / "d", "--rows", "40000", "--seed", "9"});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
    std::ofstream(dir / "kiln.yaml") << kConfig;
  }
  TempDir dir;
};

TEST_F(TransformCli, FitsAndAppliesAPlanThatNumpyReproducesBitForBit) {
  auto fit = run_kiln({"data", "fit-transform", "--data", dir / "d/train", "--config",
                       dir / "kiln.yaml", "--out", dir / "transform.json", "--json"});
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  auto summary = nlohmann::json::parse(fit.out);
  auto plan = nlohmann::json::parse(std::ifstream(dir / "transform.json"));
  EXPECT_EQ(plan["format"], "kiln.transform");
  EXPECT_EQ(summary["features"], plan["features"].size());
  std::vector<std::string> features, categorical;
  for (const auto& f : plan["features"])
    features.push_back(f["name"]);
  for (const auto& c : plan["categorical"])
    categorical.push_back(c["name"]);
  EXPECT_EQ(std::count(features.begin(), features.end(), "noise_2"), 0);  // dropped
  EXPECT_EQ(std::count(features.begin(), features.end(), "session_seconds.missing"), 1);
  EXPECT_EQ(categorical, (std::vector<std::string>{"session_seconds", "merchant", "mcc", "country",
                                                   "device_type"}));
  EXPECT_EQ(plan["categorical"][1]["cardinality"], 98);
  EXPECT_EQ(plan["categorical"][3]["cardinality"], 7);

  auto transform =
      run_kiln({"data", "transform", "--data", dir / "d/valid", "--plan", dir / "transform.json",
                "--out", dir / "valid.h5", "--batch-rows", "1000"});
  ASSERT_EQ(transform.exit_code, 0) << transform.err;
  std::string check = testing::python_script("tests/kernels/transform_numpy.py") + "check --data " +
                      (dir / "d/valid") + " --plan " + (dir / "transform.json") + " --kiln " +
                      (dir / "valid.h5") + " > " + (dir / "check.json");
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
  auto result = nlohmann::json::parse(std::ifstream(dir / "check.json"));
  EXPECT_TRUE(result["floats_identical"]) << result;
  EXPECT_TRUE(result["indices_identical"]) << result;
  EXPECT_GT(result["rows"].get<int>(), 1000);

  // The output is a matrix-layout dataset Kiln itself can inspect.
  auto inspect = run_kiln({"data", "inspect", dir / "valid.h5", "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(nlohmann::json::parse(inspect.out)["rows"], result["rows"]);
}

TEST_F(TransformCli, BadPlansAndConfigsExitWithTheirCodes) {
  std::ofstream(dir / "typo.yaml") << "transform:\n  numeric: [standardise]\n";
  auto typo = run_kiln({"data", "fit-transform", "--data", dir / "d/train", "--config",
                        dir / "typo.yaml", "--out", dir / "t.json"});
  EXPECT_EQ(typo.exit_code, 78);
  EXPECT_NE(typo.last_err_line().find("unknown step 'standardise'"), std::string::npos) << typo.err;
  auto unmatched = run_kiln({"data", "fit-transform", "--data", dir / "d/train",
                             "+transform.columns.amonut=[log1p]", "--out", dir / "t.json"});
  EXPECT_EQ(unmatched.exit_code, 78);
  EXPECT_NE(unmatched.last_err_line().find("transform.columns.amonut: matches no column"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "t.json"));

  auto missing = run_kiln({"data", "transform", "--data", dir / "d/valid", "--plan",
                           dir / "nope.json", "--out", dir / "o.h5"});
  EXPECT_EQ(missing.exit_code, 66);

  ASSERT_EQ(
      run_kiln({"data", "fit-transform", "--data", dir / "d/train", "--out", dir / "plan.json"})
          .exit_code,
      0);
  auto plan = nlohmann::json::parse(std::ifstream(dir / "plan.json"));
  plan["version"] = 99;
  std::ofstream(dir / "future.json") << plan.dump();
  auto future = run_kiln({"data", "transform", "--data", dir / "d/valid", "--plan",
                          dir / "future.json", "--out", dir / "o.h5"});
  EXPECT_EQ(future.exit_code, 65);
  EXPECT_NE(future.last_err_line().find("future.json: transform plan version 99 is not supported"),
            std::string::npos)
      << future.err;
  plan["version"] = 1;
  plan["features"][0]["column"] = "amount_typo";
  std::ofstream(dir / "renamed.json") << plan.dump();
  auto renamed = run_kiln({"data", "transform", "--data", dir / "d/valid", "--plan",
                           dir / "renamed.json", "--out", dir / "o.h5"});
  EXPECT_EQ(renamed.exit_code, 65);
  EXPECT_NE(renamed.last_err_line().find("'amount_typo', which dataset '" + (dir / "d/valid") +
                                         "' does not have"),
            std::string::npos)
      << renamed.err;
  auto unwritable = run_kiln({"data", "transform", "--data", dir / "d/valid", "--plan",
                              dir / "plan.json", "--out", dir / "no/such/dir/o.h5"});
  EXPECT_EQ(unwritable.exit_code, 74) << unwritable.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "o.h5"));
  auto csv = run_kiln({"data", "transform", "--data", dir / "d/valid", "--plan", dir / "plan.json",
                       "--out", dir / "o.csv"});
  EXPECT_EQ(csv.exit_code, 64) << csv.err;
  EXPECT_NE(csv.last_err_line().find("writes HDF5, not CSV"), std::string::npos) << csv.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "o.csv"));
}

}  // namespace
}  // namespace kiln
