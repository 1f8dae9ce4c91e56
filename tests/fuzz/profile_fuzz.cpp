// libFuzzer harness over the profile reader (profile.json is untrusted): parse and check.
// Any input must end in success or a kiln::Error — never a crash, a leak or UB — and a
// profile that reads must be consistent: its bins hold its count, its edges increase.
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "data/profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json json =
      nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (json.is_discarded()) return 0;
  try {
    const kiln::data::Profile p = kiln::data::Profile::from_json(json, "fuzz.json");
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
