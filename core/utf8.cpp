#include "core/utf8.h"

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "core/errors.h"

namespace kiln::core {

constexpr uint64_t kHighBits = 0x8080808080808080;

std::size_t invalid_utf8_at(std::string_view text) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  std::size_t i = 0;
  while (i < text.size()) {
    if (i + 8 <= text.size()) {  // ASCII eight bytes at a time
      uint64_t eight;
      std::memcpy(&eight, text.data() + i, 8);
      if ((eight & kHighBits) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char lead = byte(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // The sequence's length and the range of its second byte (which rules out overlong
    // forms, surrogates and code points past U+10FFFF); later bytes are 0x80-0xBF.
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + length > text.size() || byte(i + 1) < low || byte(i + 1) > high) return i;
    for (std::size_t k = 2; k < length; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return i;
    i += length;
  }
  return std::string_view::npos;
}

std::string utf8_fault(std::string_view text) {
  const std::size_t at = invalid_utf8_at(text);
  if (at == std::string_view::npos) return "";
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[at]));
  return detail::concat("not UTF-8 (byte ", byte, " at offset ", at, ")");
}

}  // namespace kiln::core
