// Drift of current data against a reference profile (eval/data_drift.h): a known shift is
// found, the same distribution is not, the rule set switches at 1,000 reference rows, gates
// name columns, and synth's drift scenarios are found where they are known to be.
#include "eval/data_drift.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "core/errors.h"
#include "data/dataset.h"
#include "data/profile.h"
#include "data/synth.h"
#include "tests/temp_dir.h"

namespace kiln::eval {
namespace {

using kiln::testing::TempDir;

// `rows` rows: x ~ normal(shift, 1), y ~ normal(0, 1), c: codes 0..9 (skewed toward high
// codes when `recoded`), a label.
std::string write(const TempDir& dir, const std::string& name, int64_t rows, double shift,
                  bool recoded, uint64_t seed) {
  data::Schema schema{{{"x", data::Role::kNumeric, 0},
                       {"y", data::Role::kNumeric, 0},
                       {"c", data::Role::kCategorical, 10},
                       {"label", data::Role::kLabel, 0}}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> x(static_cast<std::size_t>(rows)), y(x.size()), label(x.size());
  std::vector<int32_t> c(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = normal(rng) + static_cast<float>(shift);
    y[i] = normal(rng);
    const int32_t code = static_cast<int32_t>(rng() % 10);
    c[i] = recoded ? std::max<int32_t>(code, static_cast<int32_t>(rng() % 10)) : code;
    label[i] = static_cast<float>(rng() % 5 == 0);
  }
  const std::string path = dir / name;
  data::DatasetWriter writer(path, schema, data::ShardWriteOptions{}, rows);
  writer.append(rows, {x.data(), y.data(), c.data(), label.data()});
  writer.finish();
  return path;
}

const ColumnDrift& column(const DataDrift& d, const std::string& name) {
  for (const auto& c : d.columns)
    if (c.name == name) return c;
  throw std::runtime_error("no column " + name);
}

DataDrift drift(const std::string& reference, const std::string& current,
                const DataDriftOptions& options = {}) {
  const data::Profile r = data::profile_dataset(*data::Dataset::open(reference));
  return data_drift(r, data::profile_against(r, *data::Dataset::open(current)), options);
}

std::set<std::string> drifted_features(const DataDrift& d) {
  std::set<std::string> out;
  for (const auto& c : d.columns)
    if (c.drifted && c.role != data::Role::kLabel) out.insert(c.name);
  return out;
}

TEST(DataDrift, AKnownShiftIsFoundAndTheRestIsNot) {
  TempDir dir;
  const DataDrift d =
      drift(write(dir, "ref", 20000, 0, false, 1), write(dir, "cur", 20000, 0.5, true, 2));
  EXPECT_TRUE(column(d, "x").drifted);
  EXPECT_EQ(column(d, "x").method, "wasserstein");
  EXPECT_NEAR(column(d, "x").wasserstein, 0.5, 0.05);  // a shift of half a std
  EXPECT_FALSE(column(d, "y").drifted) << column(d, "y").score;
  EXPECT_TRUE(column(d, "c").drifted);
  EXPECT_EQ(column(d, "c").method, "jensen_shannon");
  EXPECT_FALSE(column(d, "label").drifted);
  EXPECT_EQ(d.features, 3);
  EXPECT_EQ(d.drifted, 2);
  EXPECT_TRUE(d.dataset_drifted);
  EXPECT_EQ(d.columns.front().drifted, true);  // the most severe first
}

TEST(DataDrift, TheSameDistributionDriftsInAtMostOneOfTwentySeeds) {
  TempDir dir;
  int flagged = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::string tag = std::to_string(seed);
    const DataDrift d = drift(write(dir, "r" + tag, 5000, 0, false, 100 + seed),
                              write(dir, "c" + tag, 5000, 0, false, 200 + seed));
    flagged += d.dataset_drifted ? 1 : 0;
  }
  EXPECT_LE(flagged, 1);
}

TEST(DataDrift, SmallReferencesAreTestedWithPValues) {
  TempDir dir;
  const DataDrift d =
      drift(write(dir, "ref", 800, 0, false, 3), write(dir, "cur", 800, 0.5, true, 4));
  EXPECT_EQ(column(d, "x").method, "ks");
  EXPECT_TRUE(column(d, "x").drifted);
  EXPECT_LT(column(d, "x").ks_p, 0.05);
  EXPECT_EQ(column(d, "c").method, "chi_square");
  EXPECT_EQ(column(d, "label").method, "chi_square");  // two values: categories
}

TEST(DataDrift, GatesNameDatasetAndColumnStatistics) {
  TempDir dir;
  DataDriftOptions o;
  o.gates = {"drift_share < 0.5", "psi.x < 0.1",    "ks.y <= 0.2",
             "js.c < 1",          "missing.x <= 0", "drifted_columns >= 2"};
  const DataDrift d =
      drift(write(dir, "ref", 20000, 0, false, 1), write(dir, "cur", 20000, 0.5, true, 2), o);
  ASSERT_EQ(d.gates.size(), 6u);
  EXPECT_FALSE(d.gates[0].passed);  // 2 of 3 columns drift
  EXPECT_NEAR(d.gates[0].left, 2.0 / 3, 1e-12);
  EXPECT_FALSE(d.gates[1].passed);
  EXPECT_EQ(d.gates[1].left, column(d, "x").psi);
  EXPECT_TRUE(d.gates[2].passed);
  EXPECT_EQ(d.gates[2].left, column(d, "y").ks);
  EXPECT_TRUE(d.gates[3].passed);
  EXPECT_TRUE(d.gates[4].passed);
  EXPECT_TRUE(d.gates[5].passed);
  EXPECT_FALSE(d.passed);
  const auto report = d.to_json(data::profile_dataset(*data::Dataset::open(dir / "ref")),
                                data::profile_dataset(*data::Dataset::open(dir / "ref")), o);
  EXPECT_FALSE(report["passed"].get<bool>());
  EXPECT_EQ(report["gates"].size(), 6u);
}

TEST(DataDrift, GatesOnUnknownColumnsOrTheWrongKindAreConfigErrors) {
  TempDir dir;
  const data::Profile r =
      data::profile_dataset(*data::Dataset::open(write(dir, "ref", 2000, 0, false, 1)));
  auto error = [&](const std::string& gate) {
    try {
      drift_gates({gate}, r, false);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error("psi.xx < 0.2").find("no column 'xx' in the reference; nearest: 'x'"),
            std::string::npos);
  EXPECT_NE(error("ks.c < 0.2").find("'c' is categorical"), std::string::npos);
  EXPECT_NE(error("drift_shar < 0.2").find("nearest: 'drift_share'"), std::string::npos);
  EXPECT_NE(error("auroc >= 0.8").find("unknown name"), std::string::npos);
  EXPECT_NE(error("psi. < 0.2").find("unknown name"), std::string::npos);
  EXPECT_EQ(error("wasserstein.x < 0.2"), "no error");
}

// synth's scenarios (data/synth.h): covariate drift moves exactly the preset's drift columns;
// prior drift triples the positive rate and moves no feature; concept drift moves nothing
// that a profile sees; rows before the drift are the rows without it.
TEST(DataDrift, SynthDriftScenariosAreFoundWhereTheyAreKnown) {
  TempDir dir;
  for (const std::string preset : {"fraud", "credit"}) {
    std::map<std::string, std::map<std::string, data::SplitSummary>> made;
    for (const std::string kind : {"none", "covariate", "prior", "concept"}) {
      data::SynthOptions o;
      o.rows = 60000;
      o.seed = 5;
      o.preset = preset;
      o.drift = kind;
      o.out = dir / (preset + "_" + kind);
      made[kind] = data::synthesize(o);
    }
    for (const std::string kind : {"covariate", "prior", "concept"}) {
      EXPECT_EQ(made[kind].at("train").fingerprint, made["none"].at("train").fingerprint);
      EXPECT_NE(made[kind].at("oot").fingerprint, made["none"].at("oot").fingerprint);
    }
    auto check = [&](const std::string& kind) {
      const std::string base = dir / (preset + "_" + kind);
      return drift(base + "/train", base + "/oot");
    };
    const auto expected = data::synth_drift_columns(preset);
    EXPECT_EQ(drifted_features(check("covariate")),
              std::set<std::string>(expected.begin(), expected.end()))
        << preset;
    EXPECT_TRUE(drifted_features(check("none")).empty()) << preset;
    EXPECT_TRUE(drifted_features(check("concept")).empty()) << preset;
    EXPECT_TRUE(drifted_features(check("prior")).empty()) << preset;
    const auto rate = [&](const std::string& kind) {
      const auto& oot = made[kind].at("oot");
      return static_cast<double>(oot.positives) / static_cast<double>(oot.rows);
    };
    EXPECT_NEAR(rate("prior") / rate("none"), 3.0, 0.5) << preset;
    EXPECT_NEAR(rate("concept") / rate("none"), 1.0, 0.35) << preset;
  }
  data::SynthOptions bad;
  bad.out = dir / "bad";
  bad.drift = "sudden";
  EXPECT_THROW(data::synthesize(bad), ConfigError);
}

// A covariate drift from 95% of the period on, checked in windows of a day over the oot
// split (90% to 100%): amount and device_risk drift in the windows after the drift and not in
// those before; the windows partition the rows, and their bins add up to the whole's.
TEST(DataDrift, WindowsOverTimeFindTheDriftWhereItStarts) {
  TempDir dir;
  data::SynthOptions o;
  o.rows = 200000;
  o.seed = 9;
  o.drift = "covariate";
  o.drift_at = 0.95;
  o.out = dir / "d";
  data::synthesize(o);
  const data::Profile reference = data::profile_dataset(*data::Dataset::open(dir / "d/train"));
  const auto oot = data::Dataset::open(dir / "d/oot");
  const WindowedDrift w = windowed_drift(reference, *oot, parse_window("ts", "1d"), {});
  ASSERT_GE(w.windows.size(), 15u);
  const double start = 1700000000.0 + 0.95 * 180 * 86400;  // synth's kStart + drift_at * period
  int64_t rows = 0, before = 0, after = 0;
  for (const WindowDrift& d : w.windows) {
    rows += d.rows;
    EXPECT_LE(d.first, d.last);
    EXPECT_EQ(d.index, static_cast<int64_t>(std::floor(d.first / 86400)));
    if (d.rows < 500) continue;  // a partial day at an end
    const bool moved = column(d.drift, "amount").drifted && column(d.drift, "device_risk").drifted;
    if (d.last < start) {
      EXPECT_FALSE(column(d.drift, "amount").drifted) << d.index;
      EXPECT_FALSE(column(d.drift, "device_risk").drifted) << d.index;
      ++before;
    } else if (d.first >= start) {
      EXPECT_TRUE(moved) << d.index;
      ++after;
    }
  }
  EXPECT_GE(before, 5);
  EXPECT_GE(after, 5);
  EXPECT_EQ(rows, oot->rows());
  EXPECT_EQ(w.current.rows, oot->rows());
  const auto& whole = w.current.find("amount")->numeric.counts;
  std::vector<int64_t> sum(whole.size(), 0);
  data::profile_windows(reference, *oot, parse_window("", "5000"), [&](data::Window&& window) {
    EXPECT_LE(window.profile.rows, 5000);
    const auto& counts = window.profile.find("amount")->numeric.counts;
    for (std::size_t i = 0; i < counts.size(); ++i)
      sum[i] += counts[i];
  });
  EXPECT_EQ(sum, whole);
}

TEST(DataDrift, WindowsAreCheckedAsTheyAreGiven) {
  EXPECT_EQ(parse_window("", "10000").rows, 10000);
  EXPECT_EQ(parse_window("ts", "1d").seconds, 86400);
  EXPECT_EQ(parse_window("ts", "6h").seconds, 21600);
  EXPECT_EQ(parse_window("ts", "2w").seconds, 1209600);
  for (const char* bad : {"0", "-5", "2x", "1.5d", "d", ""})
    EXPECT_THROW(parse_window("ts", bad), UsageError) << bad;
  EXPECT_THROW(parse_window("", "1d"), UsageError);  // a duration needs a time column
  EXPECT_THROW(parse_window("ts", "99999999999999999w"), UsageError);

  TempDir dir;
  const std::string path = write(dir, "x", 3000, 0, false, 1);
  const data::Profile r = data::profile_dataset(*data::Dataset::open(path));
  const auto current = data::Dataset::open(path);
  auto error = [&](const data::WindowOptions& w) {
    try {
      data::profile_windows(r, *current, w, [](data::Window&&) {});
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error(parse_window("tss", "100")).find("no column 'tss'"), std::string::npos);
  data::WindowOptions by_x = parse_window("x", "100");
  EXPECT_EQ(error(by_x), "no error");  // a numeric column orders row windows
  by_x.rows = 0;
  by_x.seconds = 60;
  EXPECT_NE(error(by_x).find("needs a time column"), std::string::npos);
  EXPECT_NE(error(parse_window("c", "100")).find("windows follow a time, id or numeric"),
            std::string::npos);

  // Time windows need rows in time order.
  const data::Schema timed{{{"ts", data::Role::kTime, 0},
                            {"x", data::Role::kNumeric, 0},
                            {"label", data::Role::kLabel, 0}}};
  std::vector<int64_t> ts = {100, 200, 86400 * 3, 50};
  std::vector<float> x = {1, 2, 3, 4}, label = {0, 1, 0, 1};
  data::DatasetWriter writer(dir / "timed", timed, data::ShardWriteOptions{}, 4);
  writer.append(4, {ts.data(), x.data(), label.data()});
  writer.finish();
  const auto shuffled = data::Dataset::open(dir / "timed");
  const data::Profile tr = data::profile_dataset(*shuffled);
  try {
    data::profile_windows(tr, *shuffled, parse_window("ts", "1d"), [](data::Window&&) {});
    ADD_FAILURE() << "a decreasing time column was windowed";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("'ts' decreases at row 3"), std::string::npos) << e.what();
  }
}

// Current data at its worst: a numeric column all missing, another all infinite, a
// categorical of codes the reference never saw: each a clear verdict, every statistic
// finite or undefined (null in report.json), nothing thrown. (A dataset has rows, and a
// window is only reported with rows: neither can be empty.)
TEST(DataDrift, MissingInfiniteNewAndNoValuesAreDriftNotCrashes) {
  TempDir dir;
  const data::Schema schema = data::Dataset::open(write(dir, "any", 10, 0, false, 1))->schema();
  // A reference of normal values and codes 0..4, or (`bad`) the current data at its worst.
  auto make = [&](const std::string& name, int64_t rows, bool bad) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> x(static_cast<std::size_t>(rows)), y(x.size()), label(x.size());
    std::vector<int32_t> c(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = bad ? nan : static_cast<float>(i % 97);
      y[i] = bad ? (i % 2 ? inf : -inf) : static_cast<float>(i % 89);
      c[i] = static_cast<int32_t>(bad ? 5 + i % 3 : i % 5);  // the bad codes are new
      label[i] = static_cast<float>(i % 4 == 0);
    }
    data::DatasetWriter writer(dir / name, schema, data::ShardWriteOptions{},
                               std::max<int64_t>(rows, 1));
    if (rows > 0) writer.append(rows, {x.data(), y.data(), c.data(), label.data()});
    writer.finish();
    return dir / name;
  };
  const std::string ref = make("ref", 5000, false);
  const DataDrift d = drift(ref, make("bad", 3000, true));
  for (const char* name : {"x", "y", "c"})
    EXPECT_TRUE(column(d, name).drifted) << name;
  EXPECT_EQ(column(d, "x").missing_current, 1.0);
  EXPECT_EQ(column(d, "x").note, "no values");
  EXPECT_TRUE(std::isnan(column(d, "y").psi));  // no finite values: undefined, not 0
  EXPECT_GT(column(d, "c").js, 0.8);            // only new codes: all in "other"
  const auto report =
      d.to_json(data::profile_dataset(*data::Dataset::open(ref)),
                data::profile_against(data::profile_dataset(*data::Dataset::open(ref)),
                                      *data::Dataset::open(dir / "bad")),
                {});
  EXPECT_FALSE(report.dump().empty());
  EXPECT_EQ(report["columns"][0]["psi"], nullptr);  // NaN is null in report.json
  // The reference with no values in a column: the current values are drift.
  const DataDrift reverse = drift(dir / "bad", ref);
  EXPECT_TRUE(column(reverse, "x").drifted);
  EXPECT_EQ(column(reverse, "x").note, "the reference has no values");
}

// drift.methods and drift.thresholds (docs/MONITORING.md): an exact name wins over patterns,
// the longest pattern over shorter ones; the global method leaves categorical columns to
// auto when it is numeric-only; bad entries are config errors naming the nearest column.
TEST(DataDrift, ConfiguredMethodsAndThresholdsApplyByNameThenLongestPattern) {
  TempDir dir;
  const std::string ref = write(dir, "ref", 20000, 0, false, 1);
  const std::string cur = write(dir, "cur", 20000, 0.5, true, 2);
  DataDriftOptions o;
  o.methods = {{"x", DriftMethod::kPsi},
               {"*", DriftMethod::kJensenShannon},
               {"l*", DriftMethod::kChiSquare}};
  o.thresholds = {{"x", 0.5}, {"?", 0.9}};
  const DataDrift d = drift(ref, cur, o);
  EXPECT_EQ(column(d, "x").method, "psi");
  EXPECT_EQ(column(d, "x").threshold, 0.5);
  EXPECT_EQ(column(d, "x").score, column(d, "x").psi);
  EXPECT_EQ(column(d, "x").drifted, column(d, "x").psi >= 0.5);
  EXPECT_EQ(column(d, "y").method, "jensen_shannon");
  EXPECT_EQ(column(d, "y").threshold, 0.9);            // "?" matches one-letter names
  EXPECT_EQ(column(d, "label").method, "chi_square");  // "l*" is longer than "*"
  EXPECT_EQ(column(d, "label").threshold, 0.05);

  DataDriftOptions ks;
  ks.method = DriftMethod::kKs;
  const DataDrift k = drift(ref, cur, ks);
  EXPECT_EQ(column(k, "x").method, "ks");
  EXPECT_TRUE(column(k, "x").drifted);
  EXPECT_EQ(column(k, "c").method, "jensen_shannon");  // categorical: auto

  const data::Profile r = data::profile_dataset(*data::Dataset::open(ref));
  auto error = [&](const DataDriftOptions& bad) {
    try {
      check_drift_options(bad, r);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  DataDriftOptions typo;
  typo.methods = {{"xx", DriftMethod::kPsi}};
  EXPECT_NE(error(typo).find("'xx' matches no column of the reference; nearest: 'x'"),
            std::string::npos);
  DataDriftOptions wrong;
  wrong.methods = {{"c", DriftMethod::kWasserstein}};
  EXPECT_NE(error(wrong).find("'c', a categorical column"), std::string::npos);
  DataDriftOptions negative;
  negative.thresholds = {{"y", -1}};
  EXPECT_NE(error(negative).find("must be a positive number"), std::string::npos);
  DataDriftOptions scores;
  scores.methods = {{"prediction", DriftMethod::kPsi}};
  EXPECT_EQ(error(scores), "no error");
  EXPECT_EQ(error(o), "no error");
}

}  // namespace
}  // namespace kiln::eval
