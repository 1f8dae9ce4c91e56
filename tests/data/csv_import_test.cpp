#include "data/csv_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <zlib.h>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "data/csv.h"
#include "data/profile.h"
#include "tests/error_of.h"
#include "tests/temp_dir.h"

namespace kiln::data {
namespace {

using kiln::testing::TempDir;

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name, std::ios::binary) << text;
  return dir / name;
}

// The message of the E that importing with `o` throws (a failure when it throws none).
template <class E>
std::string import_error(const CsvImportOptions& o) {
  return kiln::testing::error_of<E>([&] { import_csv(o); });
}

// Every column of the dataset at `path`, as doubles (categorical codes, NaN for missing).
std::map<std::string, std::vector<double>> read_all(const std::string& path) {
  auto ds = Dataset::open(path);
  std::map<std::string, std::vector<double>> out;
  for (const auto& shard : ds->shards()) {
    const Schema& s = shard->schema();
    ColumnBuffers buffers(s, shard->rows());
    shard->read(0, shard->rows(), buffers.pointers());
    for (std::size_t c = 0; c < s.columns.size(); ++c) {
      for (int64_t i = 0; i < shard->rows(); ++i) {
        double v;
        switch (mem_type(s.columns[c].role)) {
          case MemType::kFloat32:
            v = buffers.column<float>(c)[i];
            break;
          case MemType::kInt32:
            v = buffers.column<int32_t>(c)[i];
            break;
          default:
            v = static_cast<double>(buffers.column<int64_t>(c)[i]);
        }
        out[s.columns[c].name].push_back(v);
      }
    }
  }
  return out;
}

TEST(CsvImport, ReadsQuotesMissingMarkersTypesAndMapsTheLabel) {
  TempDir dir;
  std::string csv = write_file(dir, "a.csv",
                               "age,\"city, name\",score,label\r\n"
                               "31,\"Paris, FR\",0.5,fraud\r\n"
                               "NA,Berlin,,ok\r\n"
                               "45,\"say \"\"hi\"\"\nthere\",NaN,ok\r\n"
                               "52,null,1e3,fraud\r\n");
  CsvImportOptions o;
  o.files = {csv};
  o.out = dir / "ds";
  o.label = "label";
  o.positive = "fraud";
  CsvImportSummary s = import_csv(o);
  EXPECT_EQ(s.rows_read, 4);
  EXPECT_EQ(s.rows_written, 4);
  EXPECT_EQ(s.rows_rejected, 0);
  EXPECT_EQ(s.label_map.at("fraud"), 1.0f);
  EXPECT_EQ(s.label_map.at("ok"), 0.0f);
  EXPECT_EQ(s.renamed.at("city, name"), "city__name");
  const Schema& schema = s.manifest.schema;
  EXPECT_EQ(schema.columns[0].role, Role::kNumeric);
  EXPECT_EQ(schema.columns[1].role, Role::kCategorical);
  EXPECT_EQ(schema.columns[1].cardinality, 3);
  EXPECT_EQ(schema.columns[2].role, Role::kNumeric);
  auto data = read_all(o.out);
  EXPECT_EQ(data["age"][0], 31);
  EXPECT_TRUE(std::isnan(data["age"][1]));
  EXPECT_EQ(data["city__name"], (std::vector<double>{0, 1, 2, -1}));
  EXPECT_TRUE(std::isnan(data["score"][1]) && std::isnan(data["score"][2]));
  EXPECT_EQ(data["score"][3], 1000);
  EXPECT_EQ(data["label"], (std::vector<double>{1, 0, 0, 1}));
  // The dictionary keeps the strings, quotes and newline included, in code order.
  std::ifstream dict(dir / "ds/dictionaries/city__name.json");
  std::stringstream text;
  text << dict.rdbuf();
  EXPECT_EQ(text.str(), "[\"Paris, FR\",\"Berlin\",\"say \\\"hi\\\"\\nthere\"]\n");
}

// is_number is parse_number's answer, got faster for the usual forms: the same on texts
// drawn from the characters numbers are made of, and on the edges of the fast form.
TEST(CsvImport, IsNumberAgreesWithParseNumber) {
  std::vector<std::string> edges = {
      "0",   "-0",        "+7",  "007",   "1.5", "-1.25", " 3.75\t", "1.",     ".5",
      "-.5", "+-5",       "--5", "-",     "+",   ".",     "1e5",     "1E-400", "1e400",
      "inf", "-Infinity", "nan", "1.2.3", "1,5", "0x10",  "1 2",     ""};
  edges.insert(edges.end(), {"123456789012345678", "1234567890123456789", "12345678901234567.8"});
  edges.push_back(std::string(400, '9'));
  for (const std::string& text : edges)
    EXPECT_EQ(is_number(text), parse_number(text).has_value()) << "'" << text << "'";
  std::mt19937 random(1);
  const std::string alphabet = "0123456789+-.eE i nfa\t";
  for (int n = 0; n < 200000; ++n) {
    std::string text(random() % 24, ' ');
    for (char& c : text)
      c = random() % 3 ? alphabet[random() % 10] : alphabet[random() % alphabet.size()];
    ASSERT_EQ(is_number(text), parse_number(text).has_value()) << "'" << text << "'";
  }
}

TEST(CsvImport, AMalformedRowFailsWithItsLineNumber) {
  TempDir dir;
  std::string csv = write_file(dir, "b.csv", "x,y,label\n1,2,0\n3,\"multi\nline\",1\n4,5\n6,7,1\n");
  CsvImportOptions o;
  o.files = {csv};
  o.out = dir / "ds";
  o.label = "label";
  EXPECT_THAT(import_error<DataError>(o),
              ::testing::HasSubstr(csv + ":5: expected 3 fields, found 2"));
}

TEST(CsvImport, SkippedRowsAreCountedAndWrittenToTheRejectFile) {
  TempDir dir;
  std::string schema =
      write_file(dir, "schema.json", R"({"columns": [{"name": "x", "role": "numeric"}]})");
  std::string csv = write_file(dir, "c.csv", "x,label\n1,0\nabc,1\n2,\n3,1\n\"open,1\n");
  CsvImportOptions o;
  o.files = {csv};
  o.out = dir / "ds";
  o.label = "label";
  o.schema_file = schema;
  o.skip_bad_rows = true;
  CsvImportSummary s = import_csv(o);
  EXPECT_EQ(s.rows_read, 5);
  EXPECT_EQ(s.rows_written, 2);
  EXPECT_EQ(s.rows_rejected, 3);
  std::ifstream rejects(s.reject_file);
  std::stringstream text;
  text << rejects.rdbuf();
  EXPECT_EQ(text.str(), "abc,1\n2,\n\"open,1\n");
  EXPECT_EQ(read_all(o.out)["x"], (std::vector<double>{1, 3}));
}

TEST(CsvImport, InfinitiesAndNumbersBeyondFloat32StayNumericButLabelsAndWeightsMustBeFinite) {
  TempDir dir;
  std::string schema =
      write_file(dir, "schema.json", R"({"columns": [{"name": "w", "role": "weight"}]})");
  CsvImportOptions o;
  o.files = {write_file(dir, "e.csv",
                        "x,w,label\n1e300,1,0\n-1e300,1,1\ninf,1,0\n-Infinity,1,1\n1e400,1,0\n"
                        "-1e400,1,1\n1e-400,1,0\n5,1,1e300\n6,1,-inf\n7,inf,1\n8,1e39,1\n")};
  o.out = dir / "ds";
  o.label = "label";
  o.schema_file = schema;
  o.skip_bad_rows = true;
  CsvImportSummary s = import_csv(o);
  EXPECT_EQ(s.rows_written, 7);
  EXPECT_EQ(s.rows_rejected, 4);  // the infinite labels and weights
  const Schema written = Dataset::open(o.out)->schema();
  EXPECT_EQ(written.columns[static_cast<std::size_t>(written.find("x"))].role, Role::kNumeric);
  EXPECT_EQ(read_all(o.out)["x"], (std::vector<double>{INFINITY, -INFINITY, INFINITY, -INFINITY,
                                                       INFINITY, -INFINITY, 0}));
}

TEST(CsvImport, AMalformedRowFailsBeforeTheLabelIsMapped) {
  TempDir dir;
  CsvImportOptions o;
  o.files = {write_file(dir, "f.csv", "x,label\n1\n2,yes\n3,no\n")};
  o.out = dir / "ds";
  o.label = "label";
  o.positive = "maybe";  // would fail too, but the row comes first
  EXPECT_THAT(import_error<DataError>(o),
              ::testing::HasSubstr("f.csv:2: expected 2 fields, found 1"));
}

TEST(CsvImport, ATextLabelWithoutPositiveAsksForIt) {
  TempDir dir;
  std::string csv = write_file(dir, "d.csv", "x,label\n1,yes\n2,no\n");
  CsvImportOptions o;
  o.files = {csv};
  o.out = dir / "ds";
  o.label = "label";
  EXPECT_THAT(import_error<ConfigError>(o), ::testing::HasSubstr("--positive"));
  o.label = "nope";
  EXPECT_THROW(import_csv(o), ConfigError);
  o.files = {dir / "missing.csv"};
  EXPECT_THROW(import_csv(o), InputError);
}

TEST(CsvImport, LikeKeepsAnEarlierImportsRolesAndCategoryCodes) {
  TempDir dir;
  CsvImportOptions train;
  train.files = {write_file(dir, "train.csv", "city,n,label\nParis,1,0\nBerlin,2,1\nParis,3,0\n")};
  train.out = dir / "train";
  train.label = "label";
  import_csv(train);
  CsvImportOptions valid;
  valid.files = {write_file(dir, "valid.csv", "city,n,label\nRome,1,1\nBerlin,2,0\nParis,3,1\n")};
  valid.out = dir / "valid";
  valid.label = "label";
  valid.like = train.out;
  import_csv(valid);
  EXPECT_EQ(read_all(valid.out)["city"], (std::vector<double>{2, 1, 0}));  // Rome is new
  EXPECT_EQ(Dataset::open(valid.out)->dictionary("city"),
            (std::vector<std::string>{"Paris", "Berlin", "Rome"}));
  EXPECT_NO_THROW(check_same_codes(*Dataset::open(train.out), *Dataset::open(valid.out)));

  // Imported on its own, the split numbers its strings in its own order, which
  // check_same_codes finds.
  valid.like.clear();
  valid.out = dir / "alone";
  import_csv(valid);
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              check_same_codes(*Dataset::open(train.out), *Dataset::open(valid.out));
            }).find("column 'city': code 0 is 'Rome' here but 'Paris' in " + train.out),
            std::string::npos);

  valid.like = train.out;
  valid.schema_file = write_file(dir, "schema.json", R"({"columns": []})");
  valid.out = dir / "both";
  EXPECT_THROW(import_csv(valid), ConfigError);

  // A dataset's dictionary file is untrusted: a string listed twice is refused, naming it.
  const auto imported = Dataset::open(dir / "valid");
  const std::string file = dir / "valid/" + imported->manifest()->dictionaries.at("city");
  write_file(dir, "valid/" + imported->manifest()->dictionaries.at("city"),
             R"(["Paris", "Berlin", "Berlin"])");
  EXPECT_THAT(kiln::testing::error_of<DataError>([&] { imported->dictionary("city"); }),
              ::testing::HasSubstr(file + ": entry 2 'Berlin' repeats entry 1"));
}

TEST(CsvImport, ARecordOfTheDictionaryFindsDataThatNumbersItsStringsOtherwise) {
  TempDir dir;
  CsvImportOptions train;
  train.files = {write_file(dir, "train.csv", "city,n,label\nParis,1,0\nBerlin,2,1\nParis,3,0\n")};
  train.out = dir / "train";
  train.label = "label";
  import_csv(train);
  const auto fitted = Dataset::open(train.out);
  const CodeDictionary record = *code_dictionary(*fitted, "city");
  EXPECT_EQ(record.strings, 2);
  // hashlib.sha256(b"".join(struct.pack("<Q", len(s)) + s for s in (b"Paris", b"Berlin")))
  EXPECT_EQ(record.sha256, "d62972c8eba8d21847e4fc46c5973d65d68488bf783a2eda2b06971845ac1b66");
  EXPECT_FALSE(code_dictionary(*fitted, "n").has_value());
  EXPECT_EQ(CodeDictionary::from_json(nlohmann::json::parse(record.to_json().dump()), "f").sha256,
            record.sha256);

  auto import = [&](const std::string& name, const std::string& text, bool like) {
    CsvImportOptions o;
    o.files = {write_file(dir, name + ".csv", text)};
    o.out = dir / name;
    o.label = "label";
    if (like) o.like = train.out;
    import_csv(o);
    return Dataset::open(o.out);
  };
  auto check = [&](const Dataset& data) {
    return kiln::testing::error_of<DataError>(
        [&] { check_codes(data, "city", record, "the plan", train.out); });
  };
  // --like keeps the codes and appends new strings: what the record describes.
  EXPECT_NO_THROW(check_codes(*import("like", "city,n,label\nRome,1,1\nBerlin,2,0\n", true), "city",
                              record, "the plan", train.out));
  const std::string alone = check(*import("alone", "city,n,label\nRome,1,1\nBerlin,2,0\n", false));
  EXPECT_THAT(alone, ::testing::HasSubstr(dir / "alone" +
                                          ": column 'city': its codes may mean "
                                          "other strings than in '" +
                                          train.out +
                                          "', which the plan was made from (codes 0 to 1 do not "
                                          "name the same strings in both)"));
  EXPECT_THAT(alone, ::testing::HasSubstr("kiln data import --like " + train.out));
  EXPECT_THAT(check(*import("fewer", "city,n,label\nParis,1,1\n", false)),
              ::testing::HasSubstr("(its dictionary lists fewer strings, 1 against 2)"));

  // A model's checkpoint keeps the roles (profile.json) and the dictionaries: --like it.
  const auto like = Dataset::open(dir / "like");  // train's strings and Rome
  std::filesystem::create_directories(dir / "model");
  profile_dataset(*fitted).write(dir / "model/profile.json");
  write_file(dir, "model/dictionaries.json", dictionaries_json({fitted, like}));
  EXPECT_EQ(read_dictionaries(dir / "model/dictionaries.json").at("city"),
            (std::vector<std::string>{"Paris", "Berlin", "Rome"}));  // the longer
  CsvImportOptions scored;
  scored.files = {write_file(dir, "scored.csv", "n,city\n5,Rome\n6,Oslo\n7,Paris\n")};
  scored.out = dir / "scored";
  scored.like = "the model";
  scored.like_checkpoint = dir / "model";
  import_csv(scored);
  EXPECT_EQ(read_all(scored.out)["city"], (std::vector<double>{2, 3, 0}));
  write_file(dir, "model/dictionaries.json", R"({"format": "kiln.dictionaries", "version": 1,
                                                 "columns": {"city": ["Paris", 7]}})");
  scored.out = dir / "scored2";
  EXPECT_THAT(
      import_error<DataError>(scored),
      ::testing::HasSubstr("model/dictionaries.json: column 'city': entry 1 is not a string"));
  write_file(dir, "model/dictionaries.json", R"({"format": "kiln.dictionaries", "version": 1,
                                                 "columns": {"city": ["Paris", "Rome", "Paris"]}})");
  EXPECT_THAT(import_error<DataError>(scored),
              ::testing::HasSubstr("model/dictionaries.json: column 'city': entry 2 'Paris' "
                                   "repeats entry 0; a dictionary lists each string once"));
  std::filesystem::remove(dir / "model/dictionaries.json");
  EXPECT_THAT(import_error<ConfigError>(scored),
              ::testing::HasSubstr("--like the model: categorical column 'city' has no dictionary "
                                   "of strings to keep the codes of; its checkpoint has no "
                                   "dictionaries.json (written by a Kiln before checkpoints kept "
                                   "one): --like the dataset it was trained on, " +
                                   train.out));

  for (
      const char* bad :
      {R"({"strings": -1, "sha256": "d62972c8eba8d21847e4fc46c5973d65d68488bf783a2eda2b06971845ac1b66"})",
       R"({"strings": 2, "sha256": "D62972"})", R"([2])"}) {
    EXPECT_THAT(kiln::testing::error_of<DataError>(
                    [&] { CodeDictionary::from_json(nlohmann::json::parse(bad), "plan.json: x"); }),
                ::testing::HasSubstr("plan.json: x: expected {\"strings\": N"))
        << bad;
  }
}

TEST(CsvImport, TextThatIsNotUtf8IsABadRowNamingItsColumn) {
  TempDir dir;
  CsvImportOptions o;
  o.files = {write_file(dir, "latin1.csv", "city,label\nParis,1\nCaf\xe9,0\nRome,0\n")};
  o.out = dir / "ds";
  o.label = "label";
  EXPECT_THAT(
      import_error<DataError>(o),
      ::testing::HasSubstr("latin1.csv:3: column 'city': not UTF-8 (byte 0xE9 at offset 3)"));
  EXPECT_FALSE(std::filesystem::exists(o.out));
  o.skip_bad_rows = true;
  CsvImportSummary s = import_csv(o);
  EXPECT_EQ(s.rows_written, 2);
  EXPECT_EQ(s.rows_rejected, 1);
  EXPECT_EQ(Dataset::open(o.out)->dictionary("city"), (std::vector<std::string>{"Paris", "Rome"}));
}

TEST(CsvImport, AFieldOfOnlyACarriageReturnIsText) {
  // Under UBSan (the asan preset): parse_number once formed a pointer before the field.
  TempDir dir;
  CsvImportOptions o;
  o.files = {write_file(dir, "cr.csv", "x,label\n\r,1\n2,0\n")};
  o.out = dir / "ds";
  o.label = "label";
  EXPECT_EQ(import_csv(o).rows_written, 2);
  EXPECT_EQ(Dataset::open(o.out)->dictionary("x"), (std::vector<std::string>{"\r", "2"}));
}

TEST(CsvImport, ABlankLineIsNoRowAndAByteOrderMarkIsNoPartOfTheHeader) {
  // Excel's "CSV UTF-8" begins with a byte order mark; editors and `echo >>` leave blank lines.
  TempDir dir;
  CsvImportOptions o;
  o.files = {
      write_file(dir, "bom.csv", "\xEF\xBB\xBFlabel,x\r\n\r\n1,2\r\n\n0,\"a\n\nb\"\n\n\n1,3\n\n")};
  o.out = dir / "ds";
  o.label = "label";
  CsvImportSummary s = import_csv(o);
  EXPECT_EQ(s.rows_read, 3);
  EXPECT_TRUE(s.renamed.empty());
  EXPECT_EQ(read_all(o.out)["label"], (std::vector<double>{1, 0, 1}));
  // A blank line inside quotes is the field's; the lines after it keep their numbers.
  EXPECT_EQ(Dataset::open(o.out)->dictionary("x"), (std::vector<std::string>{"2", "a\n\nb", "3"}));
  o.files = {write_file(dir, "bad.csv", "label,x\n\n1,2\n\n0\n")};
  o.out = dir / "ds2";
  EXPECT_THAT(import_error<DataError>(o),
              ::testing::HasSubstr("bad.csv:5: expected 2 fields, found 1"));
}

TEST(CsvImport, AMissingLabelColumnNamesTheNearestOrTheOtherDelimiter) {
  TempDir dir;
  CsvImportOptions o;
  o.files = {write_file(dir, "a.csv", "x,Label,y\n1,1,2\n")};
  o.out = dir / "ds";
  o.label = "label";
  EXPECT_THAT(import_error<ConfigError>(o),
              ::testing::HasSubstr("a.csv: no column 'label' for --label; nearest: 'Label'"));
  o.files = {write_file(dir, "b.csv", "x;label;y\n1;1;2\n")};
  EXPECT_THAT(import_error<ConfigError>(o),
              ::testing::HasSubstr(
                  "b.csv: no column 'label' for --label; the header is one field holding ';'"));
}

// parse_time against Python's datetime.fromisoformat (tests/data/time_check.py) on every form
// it reads, years 1 to 9999, with the days, hours, seconds and offsets just out of range too:
// the same seconds where both read a time, and nothing where Python refuses one.
TEST(CsvImport, TimesInIso8601AreThoseOfPythonsDatetime) {
  TempDir dir;
  std::mt19937_64 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<std::string> times = {"1970-01-01",
                                    "1969-12-31T23:59:59.999",
                                    "2000-02-29 12:00",
                                    "1900-02-29",
                                    "2024-02-29T23:59:59Z",
                                    "2020-01-01T24:00",
                                    "0001-01-01T00:00:00+23:59",
                                    "9999-12-31T23:59:59-23:59"};
  char text[96];
  for (int i = 0; i < 4000; ++i) {
    const int form = pick(0, 4);
    int n =
        std::snprintf(text, sizeof text, "%04d-%02d-%02d", pick(1, 9999), pick(1, 12), pick(1, 31));
    if (form >= 1)
      n += std::snprintf(text + n, sizeof text - n, "%c%02d:%02d", pick(0, 1) ? 'T' : ' ',
                         pick(0, 24), pick(0, 59));
    if (form >= 2) n += std::snprintf(text + n, sizeof text - n, ":%02d", pick(0, 60));
    if (form >= 3)
      n += std::snprintf(text + n, sizeof text - n, ".%0*d", pick(1, 9), pick(0, 999999999));
    if (form >= 1) {
      const int zone = pick(0, 4), oh = pick(0, 24), om = pick(0, 59);
      const char sign = pick(0, 1) ? '+' : '-';
      if (zone == 1) std::snprintf(text + n, sizeof text - n, "Z");
      if (zone == 2) std::snprintf(text + n, sizeof text - n, "%c%02d", sign, oh);
      if (zone == 3) std::snprintf(text + n, sizeof text - n, "%c%02d%02d", sign, oh, om);
      if (zone == 4) std::snprintf(text + n, sizeof text - n, "%c%02d:%02d", sign, oh, om);
    }
    times.push_back(text);
  }
  std::ofstream(dir / "times.txt") << [&] {
    std::string all;
    for (const auto& t : times)
      all += t + "\n";
    return all;
  }();
  const std::string command = std::string(KILN_PYTHON) + " " + KILN_SOURCE_DIR +
                              "/tests/data/time_check.py " + dir / "times.txt > " +
                              dir / "expected.json";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(dir / "expected.json"));
  ASSERT_EQ(expected.size(), times.size());
  std::size_t read = 0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    const std::optional<int64_t> kiln = parse_time(times[i]);
    if (expected[i].is_null()) {
      EXPECT_FALSE(kiln.has_value()) << times[i] << " read as " << *kiln;
    } else {
      ++read;
      EXPECT_EQ(kiln, std::optional<int64_t>(expected[i].get<int64_t>())) << times[i];
    }
  }
  EXPECT_GT(read, times.size() / 2);
  EXPECT_LT(read, times.size());
  // Integer seconds as before, spaces around the text ignored, other date forms refused.
  EXPECT_EQ(parse_time(" -86400 "), -86400);
  EXPECT_EQ(parse_time(" 2020-06-01T08:00:00+02:00 "), 1590991200);
  for (const char* bad : {"", "1.5", "1e-3", "2020-1-01", "01/02/2020", "2020-01-01T12",
                          "2020-01-01Z", "2020-01-01T12:00:00.", "2020-01-01T12:00:00.1234567890",
                          "2020-01-01T12:00+2", "2020-01-01T12:00:00 Z", "2020-01-01T12:00:00ZZ"})
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
}

TEST(CsvImport, ATimeColumnTakesIso8601AndABadTimeNamesItsLine) {
  TempDir dir;
  CsvImportOptions o;
  o.files = {
      write_file(dir, "t.csv", "ts,label\n2024-03-01,0\n2024-03-01T00:00:01Z,1\n1709251202,0\n")};
  o.schema_file = write_file(dir, "s.json", R"({"columns": [{"name": "ts", "role": "time"}]})");
  o.out = dir / "ds";
  o.label = "label";
  import_csv(o);
  EXPECT_EQ(read_all(o.out)["ts"], (std::vector<double>{1709251200, 1709251201, 1709251202}));
  // Without the role, a column of ISO 8601 times is categorical, and the summary says so.
  o.schema_file.clear();
  o.out = dir / "ds1";
  EXPECT_TRUE(import_csv(o).time_like.empty());  // one integer among them
  o.files = {write_file(dir, "v.csv", "ts,day,label\n2024-03-01T08:00Z,a,0\nNA,b,1\n")};
  o.out = dir / "ds1b";
  EXPECT_EQ(import_csv(o).time_like, (std::vector<std::string>{"ts"}));
  // A role given to it (here by a schema; --like gives one too) is a choice: no note.
  o.schema_file =
      write_file(dir, "c.json", R"({"columns": [{"name": "ts", "role": "categorical"}]})");
  o.out = dir / "ds1c";
  EXPECT_TRUE(import_csv(o).time_like.empty());
  o.schema_file = write_file(dir, "s.json", R"({"columns": [{"name": "ts", "role": "time"}]})");
  o.files = {write_file(dir, "u.csv", "ts,label\n2024-03-01,0\n2024-02-30,1\n")};
  o.out = dir / "ds2";
  EXPECT_THAT(import_error<DataError>(o),
              ::testing::HasSubstr(
                  "u.csv:3: column 'ts' (time): expected seconds since the epoch or an ISO "
                  "8601 date or time, got '2024-02-30'"));
}

TEST(CsvImport, RolesFromTheCommandLineOverTheSchemaFile) {
  TempDir dir;
  CsvImportOptions o;
  o.files = {write_file(dir, "t.csv",
                        "when day,customer,w,zip,label\n2024-03-01,7,1.5,75001,0\n"
                        "2024-03-02T10:00Z,8,2,13001,1\n")};
  o.out = dir / "ds";
  o.label = "label";
  // The CSV's names (a space becomes '_' in the dataset); --role wins over the schema file.
  o.schema_file = write_file(dir, "s.json", R"({"columns": [{"name": "zip", "role": "numeric"}]})");
  o.roles = {"when day=time", "customer=id", "w=weight", "zip=categorical"};
  import_csv(o);
  const auto dataset = Dataset::open(o.out);
  const Schema& schema = dataset->schema();
  auto role_of = [&](const char* name) {
    return schema.columns[static_cast<std::size_t>(schema.find(name))].role;
  };
  EXPECT_EQ(role_of("when_day"), Role::kTime);
  EXPECT_EQ(role_of("customer"), Role::kId);
  EXPECT_EQ(role_of("w"), Role::kWeight);
  EXPECT_EQ(role_of("zip"), Role::kCategorical);
  EXPECT_EQ(read_all(o.out)["when_day"], (std::vector<double>{1709251200, 1709373600}));

  auto refused = [&](std::vector<std::string> roles) {
    o.roles = std::move(roles);
    o.out = dir / "refused";
    return import_error<ConfigError>(o);
  };
  EXPECT_THAT(refused({"zip"}), ::testing::HasSubstr("--role zip: expected COLUMN=ROLE"));
  EXPECT_THAT(refused({"zip=date"}),
              ::testing::HasSubstr("--role zip=date: unknown role (expected numeric, "));
  EXPECT_THAT(refused({"label=label"}),
              ::testing::HasSubstr("--role label=label: name the label with --label label"));
  EXPECT_THAT(refused({"zip=id", "zip=numeric"}),
              ::testing::HasSubstr("--role zip=numeric: column 'zip' has a role already"));
  EXPECT_THAT(refused({"customer=id", "zip=id"}),
              ::testing::HasSubstr("--role zip=id: a dataset has at most one id column, and "
                                   "'customer' is one"));
  EXPECT_THAT(refused({"custmer=id"}),
              ::testing::HasSubstr("--role custmer=id: column 'custmer' is not in "));
  o.schema_file.clear();
  o.like = dir / "ds";
  EXPECT_THAT(refused({"zip=id"}),
              ::testing::HasSubstr("--role zip=id: --like " + dir / "ds" +
                                   " gives column 'zip' its role (categorical)"));
  EXPECT_FALSE(std::filesystem::exists(dir / "refused"));
  // A column --like does not have takes --role (its header name; the dataset's is 'code_2').
  o.files = {write_file(dir, "more.csv",
                        "when day,customer,w,zip,code 2,label\n2024-03-03,9,1,75001,5,1\n")};
  o.roles = {"code 2=categorical"};
  o.out = dir / "more";
  import_csv(o);
  const Schema more = Dataset::open(o.out)->schema();
  EXPECT_EQ(more.columns[static_cast<std::size_t>(more.find("code_2"))].role, Role::kCategorical);
  EXPECT_EQ(more.columns[static_cast<std::size_t>(more.find("when_day"))].role, Role::kTime);
}

TEST(CsvImport, NumbersBeforeTheFirstTextGetTheirCodesInOrderOfFirstAppearance) {
  // Pass 1 keeps no strings of a column while it holds numbers; text in the second file makes
  // it categorical, and its codes are counted again from the first file's first row.
  TempDir dir;
  CsvImportOptions o;
  o.files = {write_file(dir, "1.csv", "x,y,label\n5,1,0\n7,2,1\n8,2\n5,3,1\n"),
             write_file(dir, "2.csv", "x,y,label\nabc,4,0\n7,5,1\n9,NA,0\n")};
  o.out = dir / "ds";
  o.label = "label";
  o.skip_bad_rows = true;
  CsvImportSummary s = import_csv(o);
  EXPECT_EQ(s.rows_rejected, 1);
  EXPECT_EQ(s.manifest.schema.columns[0].role, Role::kCategorical);
  EXPECT_EQ(s.manifest.schema.columns[1].role, Role::kNumeric);
  EXPECT_EQ(Dataset::open(o.out)->dictionary("x"),
            (std::vector<std::string>{"5", "7", "abc", "9"}));
  EXPECT_EQ(read_all(o.out)["x"], (std::vector<double>{0, 1, 0, 2, 1, 3}));
}

TEST(CsvImport, AFewTextsAmongNumbersAreNamedAndMissingValuesReadThemAsMissing) {
  // UCI's tables write a missing value as '?': the column turns categorical, and says why.
  TempDir dir;
  std::string text = "x,y,label\n";
  for (int i = 0; i < 40; ++i)
    text += (i == 7 ? "?" : i == 9 ? "-" : std::to_string(i)) + "," + (i % 4 ? "a" : "1") + ",0\n";
  CsvImportOptions o;
  o.files = {write_file(dir, "uci.csv", text)};
  o.out = dir / "ds";
  o.label = "label";
  CsvImportSummary s = import_csv(o);
  EXPECT_EQ(s.manifest.schema.columns[0].role, Role::kCategorical);
  // y: 30 texts among 10 numbers is a categorical column, not a marker.
  EXPECT_EQ(s.text_in_numbers,
            (std::map<std::string, std::vector<std::string>>{{"x", {"?", "-"}}}));
  o.missing_values = {"?", "-"};
  o.out = dir / "ds2";
  s = import_csv(o);
  EXPECT_EQ(s.manifest.schema.columns[0].role, Role::kNumeric);
  EXPECT_TRUE(s.text_in_numbers.empty());
  const std::vector<double> x = read_all(o.out)["x"];
  EXPECT_TRUE(std::isnan(x[7]) && std::isnan(x[9]));
  EXPECT_EQ(x[8], 8);
}

TEST(CsvImport, AValidationSplitTakesItsShareOfEachLabelValueAtRandom) {
  TempDir dir;
  std::string text = "id,city,label\n";
  for (int i = 0; i < 1000; ++i)
    text += std::to_string(i) + "," + (i % 3 ? "Paris" : "Rome") + "," +
            (i % 20 == 7 ? "yes" : "no") + "\n";
  CsvImportOptions o;
  o.files = {write_file(dir, "all.csv", text)};
  o.label = "label";
  o.positive = "yes";
  o.valid_fraction = 0.25;
  auto split = [&](const std::string& name, uint64_t seed) {
    o.out = dir / (name + "_train");
    o.valid_out = dir / (name + "_valid");
    o.split_seed = seed;
    CsvImportSummary s = import_csv(o);
    EXPECT_EQ(s.rows_written + s.valid_rows, 1000);
    EXPECT_EQ(Dataset::open(o.out)->dictionary("city"),
              Dataset::open(o.valid_out)->dictionary("city"));
    return std::pair(read_all(o.out), read_all(o.valid_out));
  };
  auto [train, valid] = split("a", 0);
  // Of 50 positives and 950 negatives, 12.5 -> 13 (rounded half away) and 237.5 -> 238.
  EXPECT_EQ(std::count(valid["label"].begin(), valid["label"].end(), 1.0), 13);
  EXPECT_EQ(std::count(valid["label"].begin(), valid["label"].end(), 0.0), 238);
  // Every row in one split or the other, each in file order.
  std::vector<double> ids = train["id"];
  ids.insert(ids.end(), valid["id"].begin(), valid["id"].end());
  EXPECT_TRUE(std::is_sorted(train["id"].begin(), train["id"].end()));
  EXPECT_TRUE(std::is_sorted(valid["id"].begin(), valid["id"].end()));
  std::sort(ids.begin(), ids.end());
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(ids[static_cast<std::size_t>(i)], i);
  EXPECT_EQ(split("b", 0).second["id"], valid["id"]);  // the seed decides
  EXPECT_NE(split("c", 1).second["id"], valid["id"]);
  o.valid_fraction = 1;
  EXPECT_THROW(split("d", 0), ConfigError);
  o.valid_fraction = 0.5;
  o.out = dir / "e";
  o.valid_out = dir.path() + "/./e";
  EXPECT_THROW(import_csv(o), ConfigError);
}

TEST(CsvImport, DataToScoreHasNoLabel) {
  // Without --label the file has none, or --like's when the file has that column.
  TempDir dir;
  CsvImportOptions o;
  o.files = {write_file(dir, "train.csv", "x,city,y\n1,Rome,yes\n2,Paris,no\n")};
  o.out = dir / "train";
  o.label = "y";
  o.positive = "yes";
  import_csv(o);
  o.files = {write_file(dir, "new.csv", "x,city\n3,Paris\n4,Oslo\n")};
  o.out = dir / "new";
  o.label.clear();
  o.like = dir / "train";
  EXPECT_THROW(import_csv(o), ConfigError);  // --positive, and no label to map
  o.positive.clear();
  CsvImportSummary s = import_csv(o);
  EXPECT_EQ(s.manifest.schema.find_role(Role::kLabel), -1);
  EXPECT_EQ(read_all(o.out)["city"], (std::vector<double>{1, 2}));  // train's codes
  o.files = {write_file(dir, "late.csv", "x,city,y\n3,Paris,no\n4,Oslo,yes\n")};
  o.out = dir / "late";
  o.positive = "yes";
  EXPECT_GE(import_csv(o).manifest.schema.find_role(Role::kLabel), 0);
  EXPECT_EQ(read_all(o.out)["y"], (std::vector<double>{0, 1}));
}

TEST(CsvImport, AGzipFileReadsAsItsTextAndDamagedDataIsNamed) {
  TempDir dir;
  std::string text = "x,city,label\n";
  for (int i = 0; i < 20000; ++i)
    text += std::to_string(i % 977) + ",\"c" + std::to_string(i % 13) + "\"," +
            std::to_string(i % 2) + "\n";
  const std::string plain = write_file(dir, "t.csv", text);
  const std::string packed = dir / "t.csv.gz";
  gzFile out = gzopen(packed.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(gzwrite(out, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(out), Z_OK);
  CsvImportOptions o;
  o.label = "label";
  o.files = {plain};
  o.out = dir / "plain";
  const std::string want = import_csv(o).manifest.fingerprint;
  o.files = {packed};
  o.out = dir / "packed";
  EXPECT_EQ(import_csv(o).manifest.fingerprint, want);
  // Cut short: refused naming the file, not read as a last short row.
  std::ifstream in(packed, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  o.files = {write_file(dir, "cut.csv.gz", bytes.substr(0, bytes.size() / 2))};
  o.out = dir / "cut";
  o.skip_bad_rows = true;
  EXPECT_THAT(import_error<DataError>(o),
              ::testing::HasSubstr("cut.csv.gz: the gzip data is damaged or cut short after line"));
  EXPECT_FALSE(std::filesystem::exists(dir / "cut/dataset.json"));
}

// The read-ahead stream gives CsvReader's records, lines and errors, over several batches,
// and a stream left mid-file stops its reader.
TEST(CsvRecordStream, GivesTheReadersRecordsInOrderAndStopsWhenLeft) {
  TempDir dir;
  std::string text = "a,b\r\n";
  for (int i = 0; i < 9000; ++i) {
    text += std::to_string(i);
    text += i % 1000 == 7   ? ",\"two\nlines\"\n"
            : i % 1000 == 9 ? ",\"open\" quote\n"
            : i % 997 == 0  ? "\n\n"  // a short record, then a blank line
                            : ",x" + std::to_string(i % 5) + "\r\n";
  }
  const std::string path = write_file(dir, "s.csv", text);
  CsvReader reader(path);
  CsvRecordStream stream(path);
  std::vector<std::string> fields;
  std::string raw, error;
  int64_t records = 0;
  while (reader.next(fields, raw, error)) {
    const CsvRecord* r = stream.next();
    ASSERT_NE(r, nullptr) << records;
    ASSERT_EQ(r->fields, fields) << records;
    ASSERT_EQ(r->raw, raw) << records;
    ASSERT_EQ(r->error, error) << records;
    ASSERT_EQ(r->line, reader.line()) << records;
    ++records;
  }
  EXPECT_EQ(records, 9001);
  EXPECT_EQ(stream.next(), nullptr);
  EXPECT_EQ(stream.next(), nullptr);
  for (int read = 0; read < 3; ++read) {  // left after 0, 1 and 2 records
    CsvRecordStream left(path);
    for (int i = 0; i < read; ++i)
      ASSERT_NE(left.next(), nullptr);
  }
  EXPECT_THROW(CsvRecordStream(dir / "missing.csv"), InputError);
}

TEST(CsvImport, SeveralFilesMustShareTheHeader) {
  TempDir dir;
  CsvImportOptions o;
  o.files = {write_file(dir, "1.csv", "x,label\n1,0\n"),
             write_file(dir, "2.csv", "x,label\n2,1\n")};
  o.out = dir / "ds";
  o.label = "label";
  EXPECT_EQ(import_csv(o).rows_written, 2);
  o.files.push_back(write_file(dir, "3.csv", "y,label\n2,1\n"));
  o.out = dir / "ds2";
  EXPECT_THROW(import_csv(o), DataError);
}

}  // namespace
}  // namespace kiln::data
