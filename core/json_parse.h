// JSON text (RFC 8259, strictly) into nlohmann::json, the same values nlohmann::json::parse
// gives, several times faster where the text is mostly numbers (a drift reference's
// profile.json: 1 MB, 105,000 numbers, 15 -> 3 ms): numbers by std::from_chars, bytes
// scanned in runs. For large untrusted files read on a hot path; nlohmann's parse stays
// everywhere else.
//
// The values: an integer that fits 64 bits is unsigned when non-negative, signed when
// negative; any other number is a double (correctly rounded; one beyond the doubles' range is
// refused, one below it is 0, as nlohmann's); a key given twice keeps its last value; a UTF-8
// byte order mark before the value is skipped. Strings must be UTF-8 (escapes decoded,
// surrogates only in pairs, no control characters). Unlike nlohmann's, nesting deeper than
// 512 arrays or objects is refused, and a NUL byte is not the end of the text.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace kiln::core {

// The value of `text`, or nullopt with `error` (when given) saying why not and where:
// "at byte 17: expected ',' or ']'".
std::optional<nlohmann::json> parse_json(std::string_view text, std::string* error = nullptr);

}  // namespace kiln::core
