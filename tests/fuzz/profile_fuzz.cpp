// libFuzzer harness over the profile reader (profile.json is untrusted): parse and check.
// Any input must end in success or a kiln::Error — never a crash, a leak or UB — and a
// profile that reads must be consistent: its bins hold its count, its edges increase. The
// text is parsed as Profile::read parses it (core::parse_json), which must agree with
// nlohmann's parse: the same refusals and the same values, but for nesting past 512 and a
// NUL byte (nlohmann's parse stops at one; core::parse_json reads on, and refuses one after
// the value).
#include <cstdint>
#include <optional>
#include <string>

#include "core/errors.h"
#include "core/json_parse.h"
#include "data/profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const std::optional<nlohmann::json> json = kiln::core::parse_json(text, &error);
  const nlohmann::json reference = nlohmann::json::parse(text, nullptr, false);
  const bool known = error.find("nested more than 512") != std::string::npos ||
                     text.find('\0') != std::string::npos;
  if (json.has_value() == reference.is_discarded() && !(json == std::nullopt && known))
    __builtin_trap();
  if (json && *json != reference) __builtin_trap();
  if (!json) return 0;
  try {
    const kiln::data::Profile p = kiln::data::Profile::from_json(*json, "fuzz.json");
    for (const auto& c : p.columns) {
      if (c.is_categorical()) continue;
      int64_t total = 0;
      for (int64_t n : c.numeric.counts)
        total += n;
      if (total != c.numeric.count || c.numeric.counts.size() != c.numeric.edges.size() + 1)
        __builtin_trap();
      for (std::size_t i = 1; i < c.numeric.edges.size(); ++i)
        if (!(c.numeric.edges[i] > c.numeric.edges[i - 1])) __builtin_trap();
    }
  } catch (const kiln::Error&) {
    // Refused with a message: the outcome we want for a bad profile.
  }
  return 0;
}
