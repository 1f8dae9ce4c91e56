// Checking that text is UTF-8 before it goes into JSON (nlohmann::json refuses to write
// anything else): CSV values, config values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kiln::core {

// The offset of the first byte of `text` that is not part of well-formed UTF-8 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or npos when all of it is.
std::size_t invalid_utf8_at(std::string_view text);

// Why `text` is not UTF-8 ("not UTF-8 (byte 0xE9 at offset 3)"); "" when it is.
std::string utf8_fault(std::string_view text);

}  // namespace kiln::core
