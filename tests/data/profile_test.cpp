// Reference profiles (data/profile.h) against numpy on the same values read with h5py
// (tests/data/profile_check.py), the file's round trip, and profile.json as untrusted input.
#include "data/profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/errors.h"
#include "data/shard.h"
#include "tests/data/profile_cases.h"
#include "tests/temp_dir.h"

namespace kiln::data {
namespace {

using kiln::testing::TempDir;

// 3 shards of 30011 rows (tests/data/profile_cases.h).
std::string make_dataset(const TempDir& dir) {
  return testing::make_profile_dataset(dir / "ds", 30011, 10004, 7);
}

// Runs tests/data/profile_check.py on a profile of `dataset` (`more`: its options): 0 when
// numpy agrees.
int numpy_check(const std::string& dataset, const std::string& profile,
                const std::string& more = "") {
  const std::string cmd = std::string(KILN_PYTHON) + " " + KILN_SOURCE_DIR +
                          "/tests/data/profile_check.py " + dataset + " " + profile + " " + more;
  return std::system(cmd.c_str());
}

bool have_numpy() {
  return std::system((std::string(KILN_PYTHON) + " -c 'import h5py, numpy' 2>/dev/null").c_str()) ==
         0;
}

TEST(Profile, AgreesWithNumpyOnTheSameValues) {
  TempDir dir;
  const std::string path = make_dataset(dir);
  ProfileOptions options;
  options.sketch_k = 256;  // small, so that quantiles come from compacted levels
  options.top_codes = 50;
  const Profile p = profile_dataset(*Dataset::open(path), options);
  ASSERT_EQ(p.columns.size(), 5u);  // ts is not profiled
  EXPECT_EQ(p.find("ts"), nullptr);
  EXPECT_GT(p.find("amount")->numeric.pos_inf, 0);
  EXPECT_GT(p.find("amount")->numeric.rank_error, 0);
  EXPECT_EQ(p.find("amount")->numeric.edges.size(), 19u);
  EXPECT_EQ(p.find("constant")->numeric.edges, std::vector<double>{2.5});
  EXPECT_EQ(p.find("empty")->numeric.count, 0);
  EXPECT_EQ(p.find("merchant")->categorical.codes.size(), 50u);
  p.write(dir / "profile.json");
  if (!have_numpy()) GTEST_SKIP() << KILN_PYTHON << " has no h5py";
  EXPECT_EQ(numpy_check(path, dir / "profile.json"), 0);
}

// Current data seen through another data's profile (what `kiln drift` writes as the current
// profile): its counts, bins (on the reference's edges), mean and variance (summed around
// the reference's mean, which the shift moves away from theirs), and quantiles within the
// rank error it states, against numpy on the current values; whole and in small blocks.
TEST(Profile, CurrentDataSeenThroughAReferenceAgreesWithNumpy) {
  TempDir dir;
  const Profile reference = profile_dataset(*Dataset::open(make_dataset(dir)));
  const std::string current = testing::make_profile_dataset(dir / "cur", 40009, 15000, 8, 1.5f);
  ProfileOptions o;
  o.block_rows = 4096;
  const Profile seen = profile_against(reference, *Dataset::open(current), o);
  EXPECT_GT(seen.find("amount")->numeric.pos_inf, 0);
  seen.write(dir / "seen.json");
  if (!have_numpy()) GTEST_SKIP() << KILN_PYTHON << " has no h5py";
  EXPECT_EQ(numpy_check(current, dir / "seen.json", "--against"), 0);
}

// Also names and paths that JSON must escape (quotes, backslashes, control characters,
// non-ASCII).
TEST(Profile, ReadsBackWhatItWrites) {
  TempDir dir;
  Profile p = profile_dataset(*Dataset::open(make_dataset(dir)));
  p.write(dir / "profile.json");
  EXPECT_EQ(Profile::read(dir / "profile.json").to_json(), p.to_json());
  p.columns.at(0).name = "a \"quoted\" \\ name\n\t\x01 \u00e9";
  p.path = "C:\\data\\\"x\"";
  p.write(dir / "escaped.json");
  const Profile back = Profile::read(dir / "escaped.json");
  EXPECT_EQ(back.columns.at(0).name, p.columns.at(0).name);
  EXPECT_EQ(back.path, p.path);
  EXPECT_EQ(back.to_json(), p.to_json());
}

// The message of the DataError `f` throws.
std::string refusal_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DataError";
  return "";
}

// The message of the DataError that reading `profile` throws.
std::string refusal(const nlohmann::json& profile) {
  try {
    Profile::from_json(profile, "p.json");
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << profile.dump();
  return "";
}

// Quantiles and edges are the data's float32 values: written as the shortest text of each
// float, read back as exactly that float (floats of every exponent and sign: subnormals,
// the largest; -0 reads as 0, which compares the same); a double between floats (an interpolated
// quantile) is written as its nearest float, and a number beyond float32's range in a file is
// refused.
TEST(Profile, QuantilesAndEdgesAreTheirFloat32s) {
  TempDir dir;
  std::vector<double> floats;
  uint32_t bits = 12345;
  for (int i = 0; i < 20000; ++i) {
    bits = bits * 1664525u + 1013904223u;  // every exponent and sign, some NaN and Inf skipped
    const auto f = std::bit_cast<float>(bits);
    if (std::isfinite(f)) floats.push_back(f);
  }
  constexpr float kMax = std::numeric_limits<float>::max();
  for (float f : {-kMax, -0.0f, std::numeric_limits<float>::denorm_min(),
                  std::numeric_limits<float>::min(), 0.1f, 1.0f / 3, 16777216.0f, kMax})
    floats.push_back(f);
  std::sort(floats.begin(), floats.end());
  NumericProfile n;
  n.count = 3;
  n.quantiles = floats;
  n.quantiles[1] = std::nextafter(floats[1], floats[2]);  // between two floats
  n.edges = {std::nextafter(0.1, 1.0), 0.25, 1e30};
  n.counts = {1, 1, 1, 0};
  const Profile p{3, "d", "f", {{"x", Role::kNumeric, n, {}}}};
  p.write(dir / "p.json");
  const NumericProfile read = Profile::read(dir / "p.json").columns.at(0).numeric;
  ASSERT_EQ(read.quantiles.size(), floats.size());
  for (std::size_t i = 0; i < floats.size(); ++i) {
    const double want = static_cast<float>(n.quantiles[i]);
    EXPECT_EQ(read.quantiles[i], want) << i << ": " << n.quantiles[i];  // -0 reads as 0
  }
  EXPECT_EQ(read.edges, (std::vector<double>{0.1f, 0.25f, 1e30f}));
  nlohmann::json j = p.to_json();
  j["columns"][0]["quantiles"][1] = 1e39;
  EXPECT_THAT(refusal(j), ::testing::HasSubstr("column 'x': 'quantiles' holds a number beyond "
                                               "float32's range"));
}

TEST(Profile, CurrentDataSeenThroughTheReferenceUsesItsBinsAndCodes) {
  TempDir dir;
  const auto reference_data = Dataset::open(make_dataset(dir));
  ProfileOptions options;
  options.top_codes = 50;
  const Profile reference = profile_dataset(*reference_data, options);
  // The same data: the same counts in every bin and code, and quantiles that agree within
  // the two rank errors (the reference's from its sketch, the current from its grid counts).
  const Profile same = profile_against(reference, *reference_data, options);
  ASSERT_EQ(same.columns.size(), reference.columns.size());
  for (std::size_t c = 0; c < same.columns.size(); ++c) {
    const ColumnProfile &a = same.columns[c], &b = reference.columns[c];
    EXPECT_EQ(a.numeric.counts, b.numeric.counts) << a.name;
    const auto& qa = a.numeric.quantiles;
    const auto& qb = b.numeric.quantiles;
    ASSERT_EQ(qa.size(), qb.size()) << a.name;
    const auto steps = static_cast<std::ptrdiff_t>(
        std::ceil((a.numeric.rank_error + b.numeric.rank_error) * (qb.size() - 1.0)) + 1);
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(qa.size()); ++i) {
      const auto last = static_cast<std::ptrdiff_t>(qb.size()) - 1;
      EXPECT_GE(qa[i], qb[std::max<std::ptrdiff_t>(0, i - steps)]) << a.name << " " << i;
      EXPECT_LE(qa[i], qb[std::min(last, i + steps)]) << a.name << " " << i;
    }
    EXPECT_EQ(a.numeric.pos_inf, b.numeric.pos_inf) << a.name;
    EXPECT_EQ(a.categorical.codes, b.categorical.codes) << a.name;
    EXPECT_EQ(a.categorical.other, b.categorical.other) << a.name;
  }
  // Other data: the reference's bins, counts that add up, and it reads back as a profile.
  Schema schema{{{"amount", Role::kNumeric, 0},
                 {"merchant", Role::kCategorical, 300},
                 {"y", Role::kLabel, 0}}};
  std::vector<float> amount(5000), y(5000, 0.0f);
  std::vector<int32_t> merchant(5000);
  for (int i = 0; i < 5000; ++i) {
    amount[static_cast<std::size_t>(i)] = static_cast<float>(i % 400);
    merchant[static_cast<std::size_t>(i)] = 250 + i % 50;  // mostly codes the reference rarely saw
  }
  {
    DatasetWriter writer(dir / "other", schema, ShardWriteOptions{}, 5000);
    writer.append(5000, {amount.data(), merchant.data(), y.data()});
    writer.finish();
  }
  const auto other = Dataset::open(dir / "other");
  Profile only{reference.rows,
               reference.path,
               reference.fingerprint,
               {*reference.find("amount"), *reference.find("merchant")}};
  const Profile seen = profile_against(only, *other, options);
  EXPECT_EQ(seen.find("amount")->numeric.edges, reference.find("amount")->numeric.edges);
  EXPECT_EQ(seen.find("amount")->numeric.quantiles.size(),
            reference.find("amount")->numeric.quantiles.size());
  EXPECT_EQ(seen.find("merchant")->categorical.codes.size(), 50u);
  EXPECT_EQ(Profile::from_json(seen.to_json(), "seen").to_json(), seen.to_json());
  // A reference column the data lacks, or has with another role: 65 naming it.
  Profile label{reference.rows, reference.path, reference.fingerprint, {*reference.find("label")}};
  EXPECT_THAT(refusal_of([&] { profile_against(label, *other); }),
              ::testing::HasSubstr("no column 'label', which the reference profile"));
  // Data without a label (to score): its rows count as missing the reference's.
  Schema unlabelled{{{"amount", Role::kNumeric, 0}}};
  {
    DatasetWriter writer(dir / "new", unlabelled, ShardWriteOptions{}, 5000);
    writer.append(5000, {amount.data()});
    writer.finish();
  }
  const Profile scored = profile_against(label, *Dataset::open(dir / "new"));
  EXPECT_EQ(scored.find("label")->numeric.count, 0);
  EXPECT_EQ(scored.find("label")->numeric.missing, 5000);
}

// A profile records each categorical column's dictionary; current data whose codes mean
// other strings (imported without --like) is refused, not counted as drift.
TEST(Profile, CurrentDataThatNumbersTheStringsOtherwiseIsRefused) {
  TempDir dir;
  auto write = [&](const std::string& name, const std::vector<std::string>& dictionary) {
    const auto cardinality = static_cast<int64_t>(dictionary.size());
    const Schema schema{{{"city", Role::kCategorical, cardinality}, {"y", Role::kLabel, 0}}};
    std::vector<int32_t> city(90);
    std::vector<float> y(90);
    for (int i = 0; i < 90; ++i) {
      city[static_cast<std::size_t>(i)] = i % 3;
      y[static_cast<std::size_t>(i)] = static_cast<float>(i % 2);
    }
    DatasetWriter writer(dir / name, schema, ShardWriteOptions{}, 1000);
    writer.set_dictionary("city", dictionary);
    writer.append(90, {city.data(), y.data()});
    writer.finish();
    return Dataset::open(dir / name);
  };
  const Profile reference = profile_dataset(*write("reference", {"Paris", "Berlin", "Rome"}));
  ASSERT_TRUE(reference.find("city")->categorical.dictionary.has_value());
  EXPECT_EQ(reference.find("city")->categorical.dictionary->strings, 3);
  const Profile read = Profile::from_json(reference.to_json(), "profile.json");
  EXPECT_EQ(read.find("city")->categorical.dictionary->sha256,
            reference.find("city")->categorical.dictionary->sha256);
  EXPECT_EQ(read.dump(), reference.dump());
  EXPECT_NO_THROW(profile_against(read, *write("like", {"Paris", "Berlin", "Rome", "Oslo"})));
  const auto other = write("other", {"Rome", "Paris", "Berlin"});
  const std::string expected = dir / "other" + ": column 'city': its codes may mean other strings";
  EXPECT_THAT(refusal_of([&] { profile_against(read, *other); }), ::testing::HasSubstr(expected));
  EXPECT_THAT(refusal_of([&] {
                profile_windows(read, *other, {"", 0, 30}, [](Window&&) {});
              }),
              ::testing::HasSubstr(expected));

  nlohmann::json damaged = reference.to_json();
  damaged["columns"][0]["dictionary"]["sha256"] = "not hex";
  EXPECT_THAT(refusal_of([&] { Profile::from_json(damaged, "profile.json"); }),
              ::testing::HasSubstr("profile.json: column 'city': 'dictionary': expected {"));
}

TEST(Profile, AMalformedProfileIsRefusedNamingTheField) {
  TempDir dir;
  const nlohmann::json good = profile_dataset(*Dataset::open(make_dataset(dir))).to_json();
  auto edited = [&](auto edit) {
    nlohmann::json j = good;
    edit(j);
    return refusal(j);
  };
  using ::testing::HasSubstr;
  EXPECT_THAT(edited([](auto& j) { j["columns"][0]["counts"][0] = 1; }),
              HasSubstr("column 'amount': 'counts' add up to"));
  EXPECT_THAT(edited([](auto& j) { j["columns"][0]["edges"][3] = -1e9; }),
              HasSubstr("column 'amount': 'edges' do not increase at index 3"));
  EXPECT_THAT(edited([](auto& j) { j["columns"][0]["quantiles"][5] = -1e9; }),
              HasSubstr("'quantiles' decrease at index 5"));
  EXPECT_THAT(edited([](auto& j) { j["columns"][0]["missing"] = 0; }),
              HasSubstr("not the profile's 30011 rows"));
  EXPECT_THAT(edited([](auto& j) { j["columns"][0]["mean"] = "x"; }),
              HasSubstr("'mean' must be a number"));
  EXPECT_THAT(edited([](auto& j) { j["columns"][1]["name"] = "amount"; }),
              HasSubstr("column 'amount' is listed twice"));
  EXPECT_THAT(edited([](auto& j) {
                j["columns"][3]["codes"][0] = {1, -5};
              }),
              HasSubstr("column 'merchant': 'codes' holds [1,-5]"));
  EXPECT_THAT(edited([](auto& j) { j["columns"][0]["role"] = "id"; }),
              HasSubstr("role 'id' is not profiled"));
  EXPECT_THAT(edited([](auto& j) { j["version"] = 9; }), HasSubstr("newer than this Kiln reads"));
  EXPECT_THAT(edited([](auto& j) { j["format"] = "x"; }), HasSubstr("not a Kiln profile"));
}

// The dataset's path and fingerprint only inform: missing or of another type, they read as
// "" (a dataset object without its path stopped the reader on an assertion; profile_fuzz
// found it).
TEST(Profile, ADatasetWithoutItsPathOrFingerprintReadsAsUnknown) {
  TempDir dir;
  nlohmann::json j = profile_dataset(*Dataset::open(make_dataset(dir))).to_json();
  j["dataset"] = nlohmann::json::object();
  Profile p = Profile::from_json(j, "p.json");
  EXPECT_EQ(p.path, "");
  EXPECT_EQ(p.fingerprint, "");
  j["dataset"] = {{"path", 3}, {"fingerprint", {1, 2}}};
  p = Profile::from_json(j, "p.json");
  EXPECT_EQ(p.path, "");
  EXPECT_EQ(p.fingerprint, "");
}

}  // namespace
}  // namespace kiln::data
