#include "core/json_parse.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/utf8.h"

namespace kiln::core {
namespace {

using json = nlohmann::json;

constexpr int kMaxDepth = 512;

struct Failure {
  std::size_t at;
  const char* what;
};

class Parser {
 public:
  explicit Parser(std::string_view text)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

  json document() {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;
    json v = value(0);
    skip_space();
    if (p_ != end_) fail("text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw Failure{static_cast<std::size_t>(p_ - begin_), what};
  }

  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }

  json value(int depth) {
    skip_space();
    if (p_ == end_) fail("the text ends where a value should be");
    switch (*p_) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
      case '"':
        return string();
      case 't':
        return literal("true", json(true));
      case 'f':
        return literal("false", json(false));
      case 'n':
        return literal("null", json(nullptr));
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return number();
        fail("expected a value");
    }
  }

  json literal(std::string_view word, json v) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0)
      fail("expected a value");
    p_ += word.size();
    return v;
  }

  json object(int depth) {
    if (depth > kMaxDepth) fail("nested more than 512 deep");
    ++p_;  // {
    json out = json::object();
    json::object_t& members = out.get_ref<json::object_t&>();
    if (closed('}')) return out;
    do {
      skip_space();
      if (p_ == end_ || *p_ != '"') fail("expected a key (a string)");
      std::string key = text();
      skip_space();
      if (p_ == end_ || *p_ != ':') fail("expected ':'");
      ++p_;
      members[std::move(key)] = value(depth);  // a repeated key: the last value
    } while (another('}', "expected ',' or '}'"));
    return out;
  }

  json array(int depth) {
    if (depth > kMaxDepth) fail("nested more than 512 deep");
    ++p_;  // [
    json out = json::array();
    json::array_t& items = out.get_ref<json::array_t&>();
    if (closed(']')) return out;
    do {
      items.push_back(value(depth));
    } while (another(']', "expected ',' or ']'"));
    return out;
  }

  // Whether an array or object ends right after its opening (then past its end).
  bool closed(char close) {
    skip_space();
    if (p_ == end_ || *p_ != close) return false;
    ++p_;
    return true;
  }

  // After an item: true past a ',' (another item follows), false past `close`.
  bool another(char close, const char* expected) {
    skip_space();
    if (p_ != end_ && *p_ == ',') {
      ++p_;
      return true;
    }
    if (p_ == end_ || *p_ != close) fail(expected);
    ++p_;
    return false;
  }

  // A number by JSON's grammar, then its value by std::from_chars.
  json number() {
    const char* start = p_;
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    auto digits = [&] {
      const char* from = p_;
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9')
        ++p_;
      return p_ != from;
    };
    if (p_ != end_ && *p_ == '0') {
      ++p_;
    } else if (!digits()) {
      fail("expected a digit");
    }
    bool integer = true;
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (!digits()) fail("expected a digit after '.'");
      integer = false;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) fail("expected a digit in the exponent");
      integer = false;
    }
    if (integer) {
      if (negative) {
        int64_t v = 0;
        if (std::from_chars(start, p_, v).ec == std::errc()) return json(v);
      } else {
        uint64_t v = 0;
        if (std::from_chars(start, p_, v).ec == std::errc()) return json(v);
      }
    }
    double v = 0;
    if (std::from_chars(start, p_, v).ec == std::errc()) return json(v);
    // Beyond the doubles' range, or below it: as strtod says (0 or a subnormal below).
    v = std::strtod(std::string(start, p_).c_str(), nullptr);
    if (!std::isfinite(v)) {
      p_ = start;
      fail("a number beyond the range of a double");
    }
    return json(v);
  }

  json string() { return json(text()); }

  // A string's text from its opening quote: runs of plain bytes copied as they are (checked
  // to be UTF-8), escapes decoded.
  std::string text() {
    ++p_;  // "
    std::string out;
    for (;;) {
      const char* run = p_;
      while (p_ != end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20)
        ++p_;
      const std::string_view plain(run, static_cast<std::size_t>(p_ - run));
      if (const std::size_t bad = invalid_utf8_at(plain); bad != std::string_view::npos) {
        p_ = run + bad;
        fail("a string that is not UTF-8");
      }
      out += plain;
      if (p_ == end_) fail("the text ends inside a string");
      if (*p_ == '"') {
        ++p_;
        return out;
      }
      if (*p_ != '\\') fail("a control character in a string (escape it)");
      ++p_;
      if (p_ == end_) fail("the text ends inside a string");
      const char escape = *p_++;
      if (escape == 'u') {
        append_utf8(out, code_point());
        continue;
      }
      static constexpr std::string_view kEscaped = "\"\\/bfnrt", kMeant = "\"\\/\b\f\n\r\t";
      const std::size_t k = kEscaped.find(escape);
      if (k == std::string_view::npos) {
        --p_;
        fail("an unknown escape in a string");
      }
      out += kMeant[k];
    }
  }

  // The code point of a \u escape after its "\u" (a surrogate pair's two escapes).
  uint32_t code_point() {
    const uint32_t first = hex4();
    if (first >= 0xDC00 && first <= 0xDFFF) fail("a low surrogate with no high one before it");
    if (first < 0xD800 || first > 0xDBFF) return first;
    if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
      fail("a high surrogate with no low one after it");
    p_ += 2;
    const uint32_t second = hex4();
    if (second < 0xDC00 || second > 0xDFFF) fail("a high surrogate with no low one after it");
    return 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
  }

  uint32_t hex4() {
    if (end_ - p_ < 4) fail("expected 4 hexadecimal digits");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      const char c = *p_;
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      if (digit < 0) fail("expected 4 hexadecimal digits");
      v = v * 16 + static_cast<uint32_t>(digit);
    }
    return v;
  }

  static void append_utf8(std::string& out, uint32_t c) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

}  // namespace

std::optional<nlohmann::json> parse_json(std::string_view text, std::string* error) {
  try {
    return Parser(text).document();
  } catch (const Failure& f) {
    if (error != nullptr) *error = "at byte " + std::to_string(f.at) + ": " + f.what;
    return std::nullopt;
  }
}

}  // namespace kiln::core
