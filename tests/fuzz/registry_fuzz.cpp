// libFuzzer harness over a registered model's journal (NAME/journal.jsonl is untrusted):
// every line parsed and replayed into a model's state, as `kiln registry` readers do.
// Any input must end in success or a kiln::Error — never a crash, a leak or UB — and a
// state that replays must be consistent: an alias holds only registered versions.
#include <cstdint>
#include <sstream>
#include <string>

#include "core/errors.h"
#include "registry/journal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream lines(std::string(reinterpret_cast<const char*>(data), size));
  kiln::registry::ModelState state;
  try {
    int n = 0;
    for (std::string line; std::getline(lines, line);) {
      const nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
      if (!event.is_object()) return 0;
      state.apply(event, "fuzz.jsonl line " + std::to_string(++n));
    }
  } catch (const kiln::Error&) {
    return 0;  // refused with a message: the outcome we want for a bad journal
  }
  for (const auto& [alias, held] : state.aliases)
    for (int64_t v : held)
      if (state.find(v) == nullptr) __builtin_trap();  // an alias on an unknown version
  if (static_cast<int64_t>(state.versions.size()) != state.last_version) __builtin_trap();
  return 0;
}
