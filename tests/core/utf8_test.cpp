#include "core/utf8.h"

#include <gtest/gtest.h>

namespace kiln::core {
namespace {

TEST(Utf8, FindsTheFirstByteThatIsNotWellFormed) {
  const std::size_t none = std::string_view::npos;
  for (const char* valid : {"", "abc", "caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9d\x84\x9e",
                            "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"})
    EXPECT_EQ(invalid_utf8_at(valid), none) << valid;
  EXPECT_EQ(invalid_utf8_at("caf\xe9"), 3u);           // Latin-1
  EXPECT_EQ(invalid_utf8_at("a\x80"), 1u);             // a lone continuation byte
  EXPECT_EQ(invalid_utf8_at("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(invalid_utf8_at("\xe0\x80\xaf"), 0u);      // overlong, 3 bytes
  EXPECT_EQ(invalid_utf8_at("\xed\xa0\x80"), 0u);      // a surrogate
  EXPECT_EQ(invalid_utf8_at("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(invalid_utf8_at("ok\xe2\x82"), 2u);        // cut short
  EXPECT_EQ(invalid_utf8_at("\xe2\x28\xa1"), 0u);      // a bad continuation byte
}

TEST(Utf8, ALongAsciiRunIsCheckedEightBytesAtATimeUpToWhatFollowsIt) {
  // Every offset of a valid sequence and of a bad byte after ASCII, and ASCII after them.
  for (std::size_t ascii = 0; ascii < 24; ++ascii) {
    const std::string run(ascii, 'x');
    EXPECT_EQ(invalid_utf8_at(run + "\xe2\x82\xac" + run), std::string_view::npos) << ascii;
    EXPECT_EQ(invalid_utf8_at(run + "\xe9" + run), ascii);
    EXPECT_EQ(invalid_utf8_at(run + "\xc3\xa9" + run + "\x80"), 2 * ascii + 2);
  }
}

TEST(Utf8, AFaultNamesTheByteAndItsOffset) {
  EXPECT_EQ(utf8_fault("caf\xe9"), "not UTF-8 (byte 0xE9 at offset 3)");
  EXPECT_EQ(utf8_fault("caf\xc3\xa9"), "");
}

}  // namespace
}  // namespace kiln::core
