// kiln data synth | import | inspect | profile | validate, driven as a user or pipeline would.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_kiln.h"
#include "tests/temp_dir.h"

namespace kiln {
namespace {

using testing::run_kiln;
using testing::TempDir;

TEST(DataCli, SynthInspectValidateRoundTrip) {
  TempDir dir;
  auto synth = run_kiln({"data", "synth", "--out", dir / "d", "--rows", "30000", "--shards", "3",
                         "--seed", "4", "--gzip", "1", "--shuffle-filter", "--json"});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  auto s = nlohmann::json::parse(synth.out);
  EXPECT_EQ(s["splits"]["train"]["shards"], 3);
  int64_t total = 0;
  for (const auto& [name, split] : s["splits"].items())
    total += split["rows"].get<int64_t>();
  EXPECT_EQ(total, 30000);

  auto inspect = run_kiln({"data", "inspect", dir / "d/train", "--json", "--verify"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  auto d = nlohmann::json::parse(inspect.out);
  EXPECT_EQ(d["rows"], s["splits"]["train"]["rows"]);
  EXPECT_EQ(d["fingerprint"], s["splits"]["train"]["fingerprint"]);
  EXPECT_EQ(d["shards"][0]["filters"], nlohmann::json({"shuffle", "deflate"}));
  bool saw_missing = false;
  for (const auto& c : d["columns"])
    saw_missing = saw_missing || c["missing_pct"].get<double>() > 1.0;
  EXPECT_TRUE(saw_missing);

  auto text = run_kiln({"data", "inspect", dir / "d/valid"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("merchant"), std::string::npos);

  auto ok =
      run_kiln({"data", "validate", dir / "d/test", "--schema", dir / "d/train/dataset.json"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST(DataCli, ValidateListsEveryMismatchAndExits65) {
  TempDir dir;
  ASSERT_EQ(run_kiln({"data", "synth", "--out", dir / "d", "--rows", "2000"}).exit_code, 0);
  std::ofstream(dir / "schema.json") << R"({"columns": [
      {"name": "amount", "role": "categorical"}, {"name": "label", "role": "label"},
      {"name": "not_there", "role": "numeric"}]})";
  auto run =
      run_kiln({"data", "validate", dir / "d/train", "--schema", dir / "schema.json", "--json"});
  EXPECT_EQ(run.exit_code, 65);
  auto v = nlohmann::json::parse(run.out);
  EXPECT_FALSE(v["ok"]);
  std::string all = v["problems"].dump();
  EXPECT_NE(all.find("'amount' has role 'numeric', expected 'categorical'"), std::string::npos)
      << all;
  EXPECT_NE(all.find("'not_there' (numeric) is missing"), std::string::npos) << all;
  EXPECT_NE(all.find("'merchant' (categorical) is not in the schema"), std::string::npos) << all;
  EXPECT_NE(run.last_err_line().find("exit 65"), std::string::npos) << run.err;
}

TEST(DataCli, ProfileWritesAProfileWhoseCountsAddUpAndExitsWithItsCodes) {
  TempDir dir;
  ASSERT_EQ(run_kiln({"data", "synth", "--out", dir / "d", "--rows", "5000"}).exit_code, 0);
  auto run = run_kiln({"data", "profile", dir / "d/train", "--out", dir / "p.json", "--bins", "8"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto p = nlohmann::json::parse(std::ifstream(dir / "p.json"));
  EXPECT_EQ(p["format"], "kiln.profile");
  for (const auto& c : p["columns"]) {
    if (c["role"] == "categorical") continue;
    EXPECT_LE(c["counts"].size(), 8u) << c["name"];
    int64_t total = 0;
    for (const auto& n : c["counts"])
      total += n.get<int64_t>();
    EXPECT_EQ(total, c["count"].get<int64_t>()) << c["name"];
  }
  EXPECT_EQ(run_kiln({"data", "profile", dir / "none", "--out", dir / "q.json"}).exit_code, 66);
  EXPECT_EQ(run_kiln({"data", "profile", dir / "d/train", "--out", dir / "no/q.json"}).exit_code,
            74);
  EXPECT_EQ(run_kiln({"data", "profile", dir / "d/train", "--out", dir / "q.json", "--bins", "0"})
                .exit_code,
            64);
}

TEST(DataCli, DriftWritesAReportAndRefusesDataWithoutTheReferencesColumns) {
  TempDir dir;
  ASSERT_EQ(run_kiln({"data", "synth", "--out", dir / "d", "--rows", "20000"}).exit_code, 0);
  ASSERT_EQ(run_kiln({"data", "profile", dir / "d/train", "--out", dir / "p.json"}).exit_code, 0);
  auto run = run_kiln({"drift", "--reference", dir / "p.json", "--data", dir / "d/test", "--out",
                       dir / "drift", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto report = nlohmann::json::parse(run.out);
  EXPECT_EQ(report, nlohmann::json::parse(std::ifstream(dir / "drift/report.json")));
  EXPECT_FALSE(report["dataset_drifted"].get<bool>());  // a random split of one table
  EXPECT_GT(report["feature_columns"].get<int>(), 5);
  EXPECT_TRUE(std::filesystem::exists(dir / "drift/profile.json"));
  ASSERT_EQ(
      run_kiln({"data", "synth", "--out", dir / "credit", "--rows", "2000", "--preset", "credit"})
          .exit_code,
      0);
  auto other = run_kiln(
      {"drift", "--reference", dir / "p.json", "--data", dir / "credit/test", "--out", dir / "x"});
  EXPECT_EQ(other.exit_code, 65);
  EXPECT_NE(other.last_err_line().find("no column"), std::string::npos) << other.err;
}

// A covariate drift from synth: the report names the moved columns, gates exit 3 (or 78
// before the pass for a bad one), and report.html renders in headless Chromium with a
// histogram per column.
TEST(DataCli, DriftGatesExitThreeAndTheReportsRender) {
  TempDir dir;
  auto synth = run_kiln(
      {"data", "synth", "--out", dir / "d", "--rows", "40000", "--drift", "covariate", "--json"});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  EXPECT_EQ(nlohmann::json::parse(synth.out)["drift"]["columns"],
            nlohmann::json({"amount", "device_risk", "country"}));
  auto run = run_kiln({"drift", "--reference", dir / "d/train", "--data", dir / "d/oot", "--out",
                       dir / "r", "--gate", "drift_share < 0.5", "--gate", "psi.amount < 0.2"});
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_NE(run.last_err_line().find("'psi.amount < 0.2'"), std::string::npos) << run.err;
  EXPECT_EQ(run.last_err_line().find("drift_share"), std::string::npos) << run.err;
  const auto report = nlohmann::json::parse(std::ifstream(dir / "r/report.json"));
  EXPECT_FALSE(report["passed"].get<bool>());
  EXPECT_EQ(report["drifted_columns"], 3);
  for (const char* name : {"amount", "device_risk", "country"})
    EXPECT_NE(run.out.find(name), std::string::npos);
  std::ifstream md(dir / "r/report.md");
  const std::string markdown((std::istreambuf_iterator<char>(md)), {});
  EXPECT_NE(markdown.find("| `psi.amount < 0.2` | **FAIL** |"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| amount | numeric | wasserstein |"), std::string::npos) << markdown;

  auto bad = run_kiln({"drift", "--reference", dir / "d/train", "--data", dir / "d/oot", "--out",
                       dir / "bad", "--gate", "psi.amout < 0.2"});
  EXPECT_EQ(bad.exit_code, 78);
  EXPECT_NE(bad.last_err_line().find("nearest: 'amount'"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "bad"));
  EXPECT_EQ(run_kiln({"drift", "--reference", dir / "d/train", "--data", dir / "d/oot", "--out",
                      dir / "ok", "--gate", "drift_share < 0.5"})
                .exit_code,
            0);

  if (std::system("chromium --version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no chromium (scripts/setup installs Debian's chromium package)";
  }
  const std::string columns = std::to_string(report["columns"].size());
  const std::string cmd = testing::python_script("tests/eval/report_browser.py") +
                          (dir / "r/report.html") + " " + (dir / "browser") + " " + columns +
                          " > " + (dir / "browser.json");
  const int rc = std::system(cmd.c_str());
  std::ifstream in(dir / "browser.json");
  const std::string summary((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(rc, 0) << summary;
  const auto result = nlohmann::json::parse(summary);
  EXPECT_EQ(result["plots"].get<std::size_t>(), report["columns"].size());
  EXPECT_TRUE(result["problems"].empty()) << result["problems"];
}

TEST(DataCli, BadInputsExitWithTheirCodes) {
  TempDir dir;
  auto missing = run_kiln({"data", "inspect", dir / "nothing"});
  EXPECT_EQ(missing.exit_code, 66);
  std::ofstream(dir / "junk.h5") << "not hdf5";
  auto junk = run_kiln({"data", "inspect", dir / "junk.h5"});
  EXPECT_EQ(junk.exit_code, 65);
  EXPECT_NE(junk.last_err_line().find("not an HDF5 file"), std::string::npos) << junk.err;
  const std::string csv_file = dir / "train.CSV";
  std::ofstream(csv_file) << "x,label\n1,0\n";
  auto csv = run_kiln({"data", "inspect", csv_file});
  EXPECT_EQ(csv.exit_code, 65);
  EXPECT_NE(csv.last_err_line().find("a CSV file is imported into a dataset first: kiln data "
                                     "import --csv " +
                                     csv_file),
            std::string::npos)
      << csv.err;
  ASSERT_EQ(run_kiln({"data", "synth", "--out", dir / "d", "--rows", "1000"}).exit_code, 0);
  auto again = run_kiln({"data", "synth", "--out", dir / "d", "--rows", "1000"});
  EXPECT_EQ(again.exit_code, 74);
  EXPECT_NE(again.last_err_line().find("already holds a dataset"), std::string::npos) << again.err;
  auto bad_preset = run_kiln({"data", "synth", "--out", dir / "e", "--preset", "retail"});
  EXPECT_EQ(bad_preset.exit_code, 64);
}

TEST(DataCli, ImportReportsRowsAndTheLabelMapping) {
  TempDir dir;
  std::ofstream(dir / "in.csv") << "x,kind,label\n1,a,spam\n2,b,ham\nbad,c,spam\n";
  std::ofstream(dir / "schema.json") << R"({"columns": [{"name": "x", "role": "numeric"}]})";
  auto run = run_kiln({"data", "import", "--csv", dir / "in.csv", "--out", dir / "ds", "--label",
                       "label", "--positive", "spam", "--schema", dir / "schema.json",
                       "--on-bad-row", "skip", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto s = nlohmann::json::parse(run.out);
  EXPECT_EQ(s["rows_read"], 3);
  EXPECT_EQ(s["rows_written"], 2);
  EXPECT_EQ(s["rows_rejected"], 1);
  EXPECT_EQ(s["label_map"]["spam"], 1.0);
  auto fail = run_kiln({"data", "import", "--csv", dir / "in.csv", "--out", dir / "ds2", "--label",
                        "label", "--positive", "spam", "--schema", dir / "schema.json"});
  EXPECT_EQ(fail.exit_code, 65);
  EXPECT_NE(fail.last_err_line().find("in.csv:4"), std::string::npos) << fail.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "ds2")) << "a failed import leaves nothing";
}

TEST(DataCli, ImportedInfinitiesStayNumericAndInspectCountsThem) {
  TempDir dir;
  std::ofstream(dir / "in.csv") << "x,label\n-inf,1\n1,0\nInfinity,0\n3,1\n";
  auto run = run_kiln(
      {"data", "import", "--csv", dir / "in.csv", "--out", dir / "ds", "--label", "label"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("x                        numeric"), std::string::npos) << run.out;
  auto text = run_kiln({"data", "inspect", dir / "ds"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("2 infinite (+-Inf), not in min, mean, max"), std::string::npos)
      << text.out;
}

TEST(DataCli, ImportNotesTextsAmongNumbersWithOptionsAShellRunsAsPrinted) {
  // A column of numbers with a few marker texts, one with a quote and a space: the note's
  // options, pasted into a shell as printed, make the column numeric with those rows missing.
  TempDir dir;
  std::ofstream csv(dir / "in.csv");
  csv << "x,label\n";
  for (int i = 0; i < 60; ++i)
    csv << (i == 7    ? "it's unknown"
            : i == 30 ? "$HOME"
                      : std::to_string(i))
        << "," << i % 2 << "\n";
  csv.close();
  auto first =
      run_kiln({"data", "import", "--csv", dir / "in.csv", "--out", dir / "a", "--label", "label"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string with = "import again with ";
  const std::size_t at = first.out.find(with);
  ASSERT_NE(at, std::string::npos) << first.out;
  const std::string options =
      first.out.substr(at + with.size(), first.out.find('\n', at) - at - with.size());
  const std::string command = std::string(KILN_BINARY) + " data import --csv " + (dir / "in.csv") +
                              " --out " + (dir / "b") + " --label label --json " + options + " > " +
                              (dir / "b.json");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const auto summary = testing::read_json(dir / "b.json");
  EXPECT_EQ(summary["rows_written"], 60);
  auto inspect = run_kiln({"data", "inspect", dir / "b", "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  const auto x = nlohmann::json::parse(inspect.out)["columns"][0];
  EXPECT_EQ(x["name"], "x");
  EXPECT_EQ(x["role"], "numeric") << x;
  EXPECT_DOUBLE_EQ(x["missing_pct"].get<double>(), 100.0 * 2 / 60) << x;
}

TEST(DataCli, ImportNotesADateColumnWithARoleOptionAShellRunsAsPrinted) {
  // A column of ISO dates (its name has a space and a quote) is categorical with a note;
  // the note's --role, pasted into a shell, makes it the time column.
  TempDir dir;
  std::ofstream csv(dir / "in.csv");
  csv << "signed on's day,x,label\n";
  for (int i = 0; i < 40; ++i)
    csv << "2024-03-" << (10 + i % 20) << "," << i << "," << i % 2 << "\n";
  csv.close();
  auto first =
      run_kiln({"data", "import", "--csv", dir / "in.csv", "--out", dir / "a", "--label", "label"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string with = "give it the role time with ";
  const std::size_t at = first.out.find(with);
  ASSERT_NE(at, std::string::npos) << first.out;
  const std::string option =
      first.out.substr(at + with.size(), first.out.find(" (kiln drift", at) - at - with.size());
  const std::string command = std::string(KILN_BINARY) + " data import --csv " + (dir / "in.csv") +
                              " --out " + (dir / "b") + " --label label " + option;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  auto inspect = run_kiln({"data", "inspect", dir / "b", "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  const auto day = nlohmann::json::parse(inspect.out)["columns"][0];
  EXPECT_EQ(day["name"], "signed_on_s_day");
  EXPECT_EQ(day["role"], "time") << day;
}

TEST(DataCli, OneCsvToAModelThenRowsWithoutLabelsScoredAndCheckedForDrift) {
  // A user's table: train and valid cut from one file; later rows come without the label.
  TempDir dir;
  std::ofstream table(dir / "table.csv"), later(dir / "later.csv");
  table << "x,city,churned\n";
  later << "x,city\n";
  for (int i = 0; i < 800; ++i) {
    const double x = (i * 37 % 101) / 10.0;
    const char* city = i % 3 ? "Lyon" : "Nice";
    table << x << "," << city << "," << ((i * 53 % 97) / 9.7 < x ? "yes" : "no") << "\n";
    if (i < 300) later << x + 1 << "," << city << "\n";
  }
  table.close();
  later.close();
  auto import =
      run_kiln({"data", "import", "--csv", dir / "table.csv", "--out", dir / "train", "--valid-out",
                dir / "valid", "--label", "churned", "--positive", "yes", "--json"});
  ASSERT_EQ(import.exit_code, 0) << import.err;
  EXPECT_EQ(nlohmann::json::parse(import.out)["valid_rows"], 160);
  auto fit = run_kiln({"fit", "data.train=" + dir / "train", "data.valid=" + dir / "valid",
                       "run.dir=" + dir / "runs", "run.name=m", "model.hidden=[16]",
                       "train.steps=100", "train.eval_every=50", "data.threads=1"});
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const std::string model = dir / "runs/default/m";
  auto rows = run_kiln({"data", "import", "--csv", dir / "later.csv", "--out", dir / "later",
                        "--like", dir / "train"});
  ASSERT_EQ(rows.exit_code, 0) << rows.err;
  auto predict =
      run_kiln({"predict", "--model", model, "--data", dir / "later", "--out", dir / "s.csv"});
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  std::ifstream scores(dir / "s.csv");
  std::string line;
  std::getline(scores, line);
  EXPECT_EQ(line, "score");
  int lines = 0;
  while (std::getline(scores, line))
    ++lines;
  EXPECT_EQ(lines, 300);
  auto drift = run_kiln(
      {"drift", "--reference", model, "--data", dir / "later", "--out", dir / "drift", "--json"});
  ASSERT_EQ(drift.exit_code, 0) << drift.err;
  const auto report = nlohmann::json::parse(drift.out);
  ASSERT_EQ(report["columns"].size(), 2u) << "x and city; no label to compare";
  for (const auto& column : report["columns"])
    EXPECT_NE(column["name"], "churned");
  EXPECT_TRUE(report["model"]["estimated_auroc"].is_number()) << report["model"];
  // Transformed for a peer, they are an h5py-style matrix without `y` that Kiln reads back.
  ASSERT_EQ(run_kiln({"data", "fit-transform", "--data", dir / "train", "--out", dir / "plan.json"})
                .exit_code,
            0);
  auto matrix = run_kiln({"data", "transform", "--data", dir / "later", "--plan", dir / "plan.json",
                          "--out", dir / "later.h5"});
  ASSERT_EQ(matrix.exit_code, 0) << matrix.err;
  auto inspect = run_kiln({"data", "inspect", dir / "later.h5", "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  const auto columns = nlohmann::json::parse(inspect.out)["columns"];
  ASSERT_FALSE(columns.empty()) << inspect.out;
  for (const auto& column : columns)
    EXPECT_NE(column["role"], "label") << column;
  // Fitting on or evaluating against rows without labels is refused.
  auto refit = run_kiln({"fit", "data.train=" + dir / "later", "data.valid=" + dir / "valid",
                         "run.dir=" + dir / "runs", "run.name=n"});
  EXPECT_EQ(refit.exit_code, 65);
  EXPECT_NE(refit.last_err_line().find("no label column"), std::string::npos) << refit.err;
  auto eval =
      run_kiln({"eval", "--model", model, "--data", dir / "later", "--out", dir / "report"});
  EXPECT_EQ(eval.exit_code, 65);
}

}  // namespace
}  // namespace kiln
