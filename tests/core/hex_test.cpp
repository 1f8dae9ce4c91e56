#include "core/hex.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln::core {
namespace {

TEST(Hex, EveryByteGoesThereAndBack) {
  std::string bytes;
  for (int b = 0; b < 256; ++b)
    bytes.push_back(static_cast<char>(b));
  const std::string text = to_hex(bytes);
  EXPECT_EQ(text.substr(0, 8), "00010203");
  EXPECT_EQ(text.substr(text.size() - 4), "feff");
  EXPECT_EQ(from_hex(text), bytes);
  EXPECT_EQ(from_hex("ABcd"), std::string("\xab\xcd"));
  EXPECT_EQ(from_hex(""), std::string());
}

TEST(Hex, RefusesOddLengthsAndOtherCharacters) {
  EXPECT_FALSE(from_hex("abc").has_value());
  EXPECT_FALSE(from_hex("0g").has_value());
  EXPECT_FALSE(from_hex("0x12").has_value());
  EXPECT_FALSE(from_hex("1 2 ").has_value());
}

}  // namespace
}  // namespace kiln::core
