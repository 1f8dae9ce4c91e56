// core::parse_json against nlohmann::json::parse, its reference: the same values of the same
// types on valid text (handwritten edge cases, random documents, every spelling of a number),
// the same refusals on invalid text (a list of faults, and thousands of random mutations).
#include "core/json_parse.h"

#include <gtest/gtest.h>

#include <bit>
#include <random>
#include <string>
#include <vector>

namespace kiln::core {
namespace {

using json = nlohmann::json;

// Equal values of equal types (nlohmann's == holds 1 and 1u and 1.0 equal), floats bit for bit.
bool same(const json& a, const json& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case json::value_t::object: {
      if (a.size() != b.size()) return false;
      for (auto it = a.begin(); it != a.end(); ++it)
        if (!b.contains(it.key()) || !same(it.value(), b.at(it.key()))) return false;
      return true;
    }
    case json::value_t::array:
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i)
        if (!same(a[i], b[i])) return false;
      return true;
    case json::value_t::number_float:
      return std::bit_cast<uint64_t>(a.get<double>()) == std::bit_cast<uint64_t>(b.get<double>());
    default:
      return a == b;
  }
}

// Whether parse_json and nlohmann agree on `text`: both refuse it, or both give the same value.
::testing::AssertionResult agree(const std::string& text) {
  const json reference = json::parse(text, nullptr, false);
  std::string error;
  const std::optional<json> ours = parse_json(text, &error);
  if (reference.is_discarded() != !ours.has_value())
    return ::testing::AssertionFailure()
           << (ours ? "accepted what nlohmann refuses: " : "refused (" + error + "): ") << text;
  if (ours && !same(*ours, reference))
    return ::testing::AssertionFailure()
           << ours->dump() << " != " << reference.dump() << " for " << text;
  return ::testing::AssertionSuccess();
}

// Random JSON text: every kind of value, numbers in many spellings, strings with escapes,
// surrogate pairs and raw UTF-8, whitespace between tokens.
class Documents {
 public:
  explicit Documents(unsigned seed) : rng_(seed) {}

  std::string document() { return space() + value(0) + space(); }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::string space() {
    static const char* spaces[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    return spaces[pick(7)];
  }

  std::string value(int depth) {
    switch (depth > 4 ? 3 + pick(4) : pick(7)) {
      case 0: {
        std::string out = "{";
        for (int i = 0, n = pick(4); i < n; ++i)
          out += (i ? "," : "") + space() + string() + space() + ":" + value(depth + 1);
        return out + space() + "}";
      }
      case 1: {
        std::string out = "[";
        for (int i = 0, n = pick(5); i < n; ++i)
          out += (i ? "," : "") + space() + value(depth + 1) + space();
        return out + "]";
      }
      case 2:
        return pick(3) == 0 ? "true" : pick(2) ? "false" : "null";
      case 3:
        return string();
      default:
        return number();
    }
  }

  std::string number() {
    static const char* fixed[] = {"0",
                                  "-0",
                                  "0.0",
                                  "-0.0",
                                  "0e0",
                                  "-0E-0",
                                  "1e-400",
                                  "-1e-400",
                                  "4.9e-324",
                                  "2.2250738585072014e-308",
                                  "1.7976931348623157e308",
                                  "9223372036854775807",
                                  "-9223372036854775808",
                                  "9223372036854775808",
                                  "-9223372036854775809",
                                  "18446744073709551615",
                                  "18446744073709551616",
                                  "123456789012345678901234567890",
                                  "1E+2",
                                  "1e-2",
                                  "0.1",
                                  "3.14159265358979323846264338327950288"};
    char buffer[64];
    switch (pick(5)) {
      case 0:
        return fixed[pick(static_cast<int>(std::size(fixed)))];
      case 1:
        return std::to_string(std::uniform_int_distribution<int64_t>()(rng_) >> pick(63));
      case 2: {
        const double v =
            std::normal_distribution<double>(0, 1)(rng_) * std::pow(10.0, pick(40) - 20);
        std::snprintf(buffer, sizeof buffer, pick(2) ? "%.17g" : "%.6e", v);
        return buffer;
      }
      case 3: {
        std::snprintf(buffer, sizeof buffer, "%.9g",
                      static_cast<float>(std::normal_distribution<double>(3, 2)(rng_)));
        return buffer;
      }
      default:
        return std::to_string(std::uniform_int_distribution<uint64_t>()(rng_));
    }
  }

  std::string string() {
    static const char* pieces[] = {"a",           "key",          " ",
                                   "\\\"",        "\\\\",         "\\/",
                                   "\\b",         "\\f",          "\\n",
                                   "\\r",         "\\t",          "\\u0000",
                                   "\\u00e9",     "\\u20AC",      "\\ud834\\udd1e",
                                   "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e",
                                   "\\u007f",     "quantiles"};
    std::string out = "\"";
    for (int i = 0, n = pick(5); i < n; ++i)
      out += pieces[pick(static_cast<int>(std::size(pieces)))];
    return out + "\"";
  }

  std::mt19937_64 rng_;
};

TEST(ParseJson, GivesNlohmannsValuesOfTheSameTypes) {
  for (const char* text :
       {"0", "-0", "1", "-1", "1.5", "-0.0", "1e400x", "[]", "{}", " [ 1 , 2 ] ", "\"\"",
        "{\"a\":1,\"a\":2}", "{\"a\":{\"b\":[true,false,null]}}", "\xEF\xBB\xBF[1]", "\"\\u0000\"",
        "\"\\uD834\\uDD1E\"", "[1e-400, 4.9e-324, 18446744073709551616]",
        "{\"quantiles\": [-4.4564266, -3.1062422, 0, 2.865539]}"})
    EXPECT_TRUE(agree(text));
  Documents documents(7);
  for (int i = 0; i < 3000; ++i)
    ASSERT_TRUE(agree(documents.document())) << i;
}

TEST(ParseJson, RefusesWhatNlohmannRefusesSayingWhere) {
  for (const char* text : {"",
                           " ",
                           "[",
                           "]",
                           "[1,]",
                           "[,1]",
                           "{\"a\":1,}",
                           "{\"a\" 1}",
                           "{1:2}",
                           "{\"a\"}",
                           "01",
                           "-01",
                           "1.",
                           ".5",
                           "-",
                           "+1",
                           "1e",
                           "1e+",
                           "0x10",
                           "1e400",
                           "-1e400",
                           "NaN",
                           "Infinity",
                           "nul",
                           "tru",
                           "truee",
                           "[1] 2",
                           "[1]]",
                           "\"abc",
                           "\"\\x\"",
                           "\"\\u12\"",
                           "\"\\u12g4\"",
                           "\"\\ud800\"",
                           "\"\\udc00\"",
                           "\"\\ud800\\u0041\"",
                           "\"a\nb\"",
                           "\"\x01\"",
                           "\"caf\xe9\"",
                           "\"\xc0\xaf\"",
                           "\"\xed\xa0\x80\"",
                           "[\"a\" \"b\"]",
                           "{\"a\":1 \"b\":2}",
                           "\xEF\xBB[1]"}) {
    EXPECT_TRUE(agree(text));
    std::string error;
    if (!parse_json(text, &error)) {
      EXPECT_EQ(error.rfind("at byte ", 0), 0u) << error;
    }
  }
  std::string error;
  EXPECT_FALSE(parse_json("[1, 2,, 3]", &error));
  EXPECT_EQ(error, "at byte 6: expected a value");
  // nlohmann's parse ends the text at a NUL byte; this one reads on.
  const std::string nul("[1]\0garbage", 11);
  EXPECT_FALSE(json::parse(nul, nullptr, false).is_discarded());
  EXPECT_FALSE(parse_json(nul, &error));
  EXPECT_EQ(error, "at byte 3: text after the value");
}

TEST(ParseJson, AgreesWithNlohmannOnMutatedText) {
  Documents documents(11);
  std::mt19937_64 rng(13);
  const std::string bytes = "[]{}\",:\\.-+eE0123456789 tfnu\x01\x80\xc3\xff";
  int refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = documents.document();
    for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n && !text.empty(); ++k) {
      const std::size_t at = rng() % text.size();
      const char c = bytes[rng() % bytes.size()];
      switch (rng() % 3) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(at, 1, c);
          break;
        default:
          text.erase(at, 1);
      }
    }
    ASSERT_TRUE(agree(text)) << i;
    refused += parse_json(text) ? 0 : 1;
  }
  EXPECT_GT(refused, 5000) << "the mutations break most documents";
  EXPECT_LT(refused, 19000) << "and leave some valid";
}

TEST(ParseJson, RefusesNestingDeeperThan512) {
  const auto nested = [](int depth) {
    return std::string(static_cast<std::size_t>(depth), '[') +
           std::string(static_cast<std::size_t>(depth), ']');
  };
  EXPECT_TRUE(parse_json(nested(512)));
  std::string error;
  EXPECT_FALSE(parse_json(nested(513), &error));
  EXPECT_EQ(error, "at byte 512: nested more than 512 deep");
  EXPECT_FALSE(parse_json(std::string(1000000, '[')));  // no stack overflow
  EXPECT_FALSE(parse_json(std::string(1000000, '{')));
}

}  // namespace
}  // namespace kiln::core
