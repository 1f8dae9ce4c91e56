#include "core/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/error_of.h"
#include "tests/temp_dir.h"

namespace kiln::core {
namespace {

struct Inner {
  int64_t count = 3;
  double rate = 0.5;
  std::vector<std::string> names{"a"};
  template <class V>
  void visit(V& v) {
    v("count", count, "a count");
    v("rate", rate, "a rate");
    v("names", names, "some names");
  }
};

enum class Shape { kRound, kSquare, kLongName };
EnumNames<Shape> enum_names(Shape) {
  static constexpr std::pair<Shape, std::string_view> names[] = {
      {Shape::kRound, "round"}, {Shape::kSquare, "square"}, {Shape::kLongName, "long_name"}};
  return names;
}

struct TestConfig {
  std::string title = "t";
  bool flag = false;
  Shape shape = Shape::kSquare;
  Inner inner;
  std::map<std::string, std::string> tags;
  template <class V>
  void visit(V& v) {
    v("title", title, "a title");
    v("flag", flag, "a flag");
    v("shape", shape, "an enum");
    v("inner", inner, "a section");
    v("tags", tags, "an open map");
  }
};

class ConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  kiln::testing::TempDir dir_;
};

using kiln::testing::error_of;

TEST(ParseOverride, ReadsTheThreeOperationsAndTypedValues) {
  ConfigOverride set = parse_override("inner.count=7");
  EXPECT_EQ(set.op, ConfigOverride::Op::kSet);
  EXPECT_EQ(set.path, (std::vector<std::string>{"inner", "count"}));
  EXPECT_EQ(set.value.as<int>(), 7);

  ConfigOverride add = parse_override("+tags.team=risk");
  EXPECT_EQ(add.op, ConfigOverride::Op::kAdd);
  EXPECT_EQ(add.value.Scalar(), "risk");

  ConfigOverride del = parse_override("~tags.team");
  EXPECT_EQ(del.op, ConfigOverride::Op::kDelete);
  EXPECT_EQ(del.path, (std::vector<std::string>{"tags", "team"}));

  EXPECT_TRUE(parse_override("a=[1, 2, 3]").value.IsSequence());
  EXPECT_EQ(parse_override("a='x=y z'").value.Scalar(), "x=y z");
  EXPECT_TRUE(parse_override("a=").value.IsNull());
  EXPECT_DOUBLE_EQ(parse_override("a=1e-3").value.as<double>(), 1e-3);
  // Open maps keyed by glob patterns (transform.columns.noise_*).
  EXPECT_EQ(parse_override("+tags.x_[0-9]*=1").path,
            (std::vector<std::string>{"tags", "x_[0-9]*"}));
}

TEST(ParseOverride, RejectsMalformedTextWithExit64) {
  for (const char* bad : {"novalue", "=1", "a..b=1", ".a=1", "a.=1", "~a=1", "a b=1", "+=1",
                          "a={x: 1}", "a=[1,", "a=x: y", "a/b=1", "a!=1"}) {
    try {
      parse_override(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
      EXPECT_EQ(e.exit_code(), 64);
    }
  }
}

TEST_F(ConfigTest, LayersDefaultsThenFilesInOrderThenOverrides) {
  std::string first = write("first.yaml", "title: one\ninner:\n  count: 10\n  rate: 0.25\n");
  std::string second = write("second.yaml", "inner:\n  count: 20\n");
  TestConfig c = resolve_config<TestConfig>({first, second}, {"inner.names=[x, y]", "flag=true"});
  EXPECT_EQ(c.title, "one");
  EXPECT_EQ(c.inner.count, 20);
  EXPECT_DOUBLE_EQ(c.inner.rate, 0.25);
  EXPECT_EQ(c.inner.names, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(c.flag);

  TestConfig defaults = resolve_config<TestConfig>({}, {});
  EXPECT_EQ(defaults.title, "t");
  EXPECT_EQ(defaults.inner.count, 3);
}

TEST_F(ConfigTest, UnknownOverrideKeyNamesItAndTheNearestKnownKey) {
  std::string msg = error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"inner.cont=4"}); });
  EXPECT_NE(msg.find("'inner.cont'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nearest known key: 'inner.count'"), std::string::npos) << msg;
}

TEST_F(ConfigTest, UnknownFileKeyNamesFileLineAndNearestKey) {
  std::string path = write("bad.yaml", "title: x\ninner:\n  rat: 0.1\n");
  std::string msg = error_of<ConfigError>([&] { resolve_config<TestConfig>({path}, {}); });
  EXPECT_NE(msg.find(path + ":3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'inner.rat'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'inner.rate'"), std::string::npos) << msg;
}

TEST_F(ConfigTest, WrongTypesAreRejectedNamingKeyAndValue) {
  std::string msg =
      error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"inner.count=abc"}); });
  EXPECT_NE(msg.find("'inner.count' expects an integer, got 'abc'"), std::string::npos) << msg;
  msg = error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"flag=maybe"}); });
  EXPECT_NE(msg.find("'flag' expects true or false"), std::string::npos) << msg;
  msg = error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"inner.names=3"}); });
  EXPECT_NE(msg.find("'inner.names' expects a list"), std::string::npos) << msg;
  msg = error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"inner=5"}); });
  EXPECT_NE(msg.find("'inner' expects a map of keys"), std::string::npos) << msg;
  msg = error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"inner.rate=[1]"}); });
  EXPECT_NE(msg.find("expects a number, got a list"), std::string::npos) << msg;
}

TEST_F(ConfigTest, EnumsAreReadByNameAndAnUnknownNameIsRefusedWhereItIsWritten) {
  EXPECT_EQ(resolve_config<TestConfig>({}, {"shape=long_name"}).shape, Shape::kLongName);
  EXPECT_EQ(resolve_config<TestConfig>({}, {}).shape, Shape::kSquare);
  std::string path = write("shape.yaml", "title: x\nshape: oval\n");
  std::string msg = error_of<ConfigError>([&] { resolve_config<TestConfig>({path}, {}); });
  EXPECT_NE(msg.find(path + ":2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'shape' expects one of round, square or long_name, got 'oval'"),
            std::string::npos)
      << msg;
  msg = error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"shape=[round]"}); });
  EXPECT_NE(msg.find("expects one of round, square or long_name, got a list"), std::string::npos)
      << msg;
  EXPECT_EQ(enum_list<Shape>(), "round, square or long_name");
  EXPECT_EQ(enum_name(Shape::kLongName), "long_name");
  EXPECT_FALSE(enum_value<Shape>("Round").has_value());  // names are exact
}

TEST_F(ConfigTest, AddCreatesKeysInOpenMapsOnly) {
  TestConfig c = resolve_config<TestConfig>({}, {"+tags.team=risk", "+tags.owner=ana"});
  EXPECT_EQ(c.tags.at("team"), "risk");
  EXPECT_EQ(c.tags.at("owner"), "ana");
  // Adding a key the schema does not know is still an unknown key.
  std::string msg =
      error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"+inner.extra=1"}); });
  EXPECT_NE(msg.find("unknown config key 'inner.extra'"), std::string::npos) << msg;
  // Adding an existing key, or setting a missing one, says which form to use.
  msg = error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"+inner.count=1"}); });
  EXPECT_NE(msg.find("already exists"), std::string::npos) << msg;
  msg = error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"tags.team=x"}); });
  EXPECT_NE(msg.find("to add it write +tags.team="), std::string::npos) << msg;
}

TEST_F(ConfigTest, DeleteRemovesAKeySoItsDefaultApplies) {
  std::string path = write("tags.yaml", "tags:\n  team: risk\n  cost: a1\ninner:\n  count: 9\n");
  TestConfig c = resolve_config<TestConfig>({path}, {"~tags.team", "~inner.count"});
  EXPECT_EQ(c.tags.count("team"), 0u);
  EXPECT_EQ(c.tags.at("cost"), "a1");
  EXPECT_EQ(c.inner.count, 3);
  std::string msg = error_of<ConfigError>([] { resolve_config<TestConfig>({}, {"~inner.nope"}); });
  EXPECT_NE(msg.find("cannot delete unknown key 'inner.nope'"), std::string::npos) << msg;
}

TEST_F(ConfigTest, FilesThatAreMissingOrNotConfigsFailWithTheirCodes) {
  std::string missing = dir_ / "missing.yaml";
  EXPECT_THROW(resolve_config<TestConfig>({missing}, {}), InputError);
  std::string broken = write("broken.yaml", "title: [unclosed\n");
  std::string msg = error_of<ConfigError>([&] { resolve_config<TestConfig>({broken}, {}); });
  EXPECT_NE(msg.find(broken + ":"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid YAML"), std::string::npos) << msg;
  std::string list = write("list.yaml", "- a\n- b\n");
  msg = error_of<ConfigError>([&] { resolve_config<TestConfig>({list}, {}); });
  EXPECT_NE(msg.find("expected a map of config keys"), std::string::npos) << msg;
  std::string empty = write("empty.yaml", "");
  EXPECT_EQ(resolve_config<TestConfig>({empty}, {}).title, "t");
  std::string twice = write("twice.yaml", "title: a\ninner:\n  count: 1\n  rate: 2\n  count: 3\n");
  msg = error_of<ConfigError>([&] { resolve_config<TestConfig>({twice}, {}); });
  EXPECT_NE(msg.find(twice + ":5: config key 'inner.count' is set twice (first at line 3)"),
            std::string::npos)
      << msg;
  std::string latin1 = write("latin1.yaml", "title: a\ntags:\n  team: caf\xe9\n");
  msg = error_of<ConfigError>([&] { resolve_config<TestConfig>({latin1}, {}); });
  EXPECT_NE(msg.find(latin1 + ":3: the value of 'tags.team' is not UTF-8 (byte 0xE9 at offset 3)"),
            std::string::npos)
      << msg;
  msg = error_of<UsageError>([] { resolve_config<TestConfig>({}, {"+tags.team=caf\xe9"}); });
  EXPECT_NE(msg.find("is not UTF-8 (byte 0xE9 at offset 14)"), std::string::npos) << msg;
}

TEST(ConfigSchema, EncodeThenDecodeGivesTheSameConfig) {
  TestConfig original;
  original.title = "yes";  // YAML would read a plain yes as true
  original.inner.count = -5;
  original.inner.rate = 1.0 / 3.0;
  original.inner.names = {"p", "q r"};
  original.shape = Shape::kRound;
  original.tags = {{"k", "v"}, {"zip", "007"}, {"nothing", "null"}, {"colon", "a: b"}};
  TestConfig decoded;
  std::string text = schema::to_yaml_text(original);
  schema::decode_root(YAML::Load(text), decoded, "test", false);
  EXPECT_NE(text.find("title: \"yes\""), std::string::npos) << text;
  EXPECT_NE(text.find("rate: 0.3333333333333333"), std::string::npos) << text;
  EXPECT_NE(text.find("shape: round"), std::string::npos) << text;
  EXPECT_EQ(decoded.shape, Shape::kRound);
  EXPECT_EQ(decoded.title, original.title);
  EXPECT_EQ(decoded.inner.count, original.inner.count);
  EXPECT_EQ(decoded.inner.rate, original.inner.rate);
  EXPECT_EQ(decoded.inner.names, original.inner.names);
  EXPECT_EQ(decoded.tags, original.tags);
}

TEST(ConfigSchema, ListsEveryKeyWithOpenMapsAsStar) {
  std::vector<std::string> keys;
  for (const auto& k : schema::keys_of<TestConfig>())
    keys.push_back(k.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"title", "flag", "shape", "inner.count", "inner.rate",
                                            "inner.names", "tags.*"}));
  EXPECT_EQ(schema::keys_of<TestConfig>()[2].default_value, "square");
}

TEST(ConfigJson, WritesEachValueWithItsOwnType) {
  TestConfig c;
  c.title = "true";
  c.inner.rate = 0.1;
  c.tags = {{"zip", "007"}};
  EXPECT_EQ(
      schema::to_json(c).dump(),
      R"({"title":"true","flag":false,"shape":"square","inner":{"count":3,"rate":0.1,"names":["a"]},"tags":{"zip":"007"}})");
}

struct Budget {
  Auto<int64_t> steps;
  Auto<double> rate;
  Auto<int64_t> given = 9;
  template <class V>
  void visit(V& v) {
    v("steps", steps, "auto or a number");
    v("rate", rate, "auto or a number");
    v("given", given, "a number given");
  }
};
struct Job {
  std::string name = "r";
  Budget budget;
  template <class V>
  void visit(V& v) {
    v("name", name, "a name");
    v("budget", budget, "a section");
  }
};

// A resumed run's autos: each one this config leaves auto takes the value the other config
// has, unless that one is auto too; a given value stays.
TEST(ConfigSchema, FillAutosTakesTheOtherConfigsValuesForTheAutosOnly) {
  Job saved;
  saved.budget.steps = 1000;
  saved.budget.given = 3;
  Job run;
  std::vector<std::pair<std::string, nlohmann::ordered_json>> filled;
  schema::fill_autos(run, schema::to_json(saved), "", filled);
  ASSERT_EQ(filled.size(), 1u);
  EXPECT_EQ(filled[0].first, "budget.steps");
  EXPECT_EQ(filled[0].second, 1000);
  EXPECT_EQ(run.budget.steps.get(), 1000);
  EXPECT_TRUE(run.budget.rate.is_auto());
  EXPECT_EQ(run.budget.given.get(), 9);
}

TEST(NearestKey, PicksTheSmallestEditDistance) {
  EXPECT_EQ(nearest_key("run.sed", {"run.seed", "run.dir", "log.level"}), "run.seed");
  EXPECT_EQ(nearest_key("x.y", {}), "");
}

}  // namespace
}  // namespace kiln::core
