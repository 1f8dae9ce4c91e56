// libFuzzer harness over the safetensors reader (checkpoints are untrusted files): any input
// must end in a parsed file whose tensors are consistent, or a kiln::Error.
#include <cstdint>
#include <string_view>

#include "core/errors.h"
#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file = kiln::core::parse_safetensors(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz", 1 << 20);
    for (const auto& t : file.tensors) {
      std::size_t bytes = kiln::core::dtype_size(t.dtype);
      for (int64_t d : t.shape)
        bytes *= static_cast<std::size_t>(d);
      if (bytes != t.data.size()) __builtin_trap();  // a tensor whose bytes do not match
    }
  } catch (const kiln::Error&) {
    // Refused with a message: the outcome we want for a bad file.
  }
  return 0;
}
