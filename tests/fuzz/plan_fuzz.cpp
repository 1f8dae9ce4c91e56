// libFuzzer harness over the transform-plan reader (transform.json is untrusted): parse,
// check, bind to a schema made from the plan's own columns, and apply to a few rows.
// Any input must end in success or a kiln::Error — never a crash, a leak or UB.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"
#include "kernels/transform.h"
#include "transform/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json json =
      nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size), nullptr, false);
  if (json.is_discarded()) return 0;
  try {
    auto plan = kiln::transform::FittedPlan::from_json(json, "fuzz.json");
    kiln::data::Schema schema;
    auto add = [&schema](const std::string& name, kiln::data::Role role) {
      if (schema.find(name) < 0) schema.columns.push_back({name, role, 1 << 16});
    };
    for (const auto& f : plan.features)
      add(f.column, kiln::data::Role::kNumeric);
    for (const auto& c : plan.categoricals) {
      add(c.column, c.program.kind == kiln::kernels::CategoricalKind::kBucketize
                        ? kiln::data::Role::kNumeric
                        : kiln::data::Role::kCategorical);
    }
    auto compiled = kiln::transform::compile(plan, schema);
    const int64_t rows = 37;
    std::vector<std::vector<int32_t>> columns(schema.columns.size(), std::vector<int32_t>(rows));
    std::vector<const void*> pointers;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      for (int64_t r = 0; r < rows; ++r) {
        if (schema.columns[c].role == kiln::data::Role::kNumeric) {
          float v = r % 7 == 0 ? NAN : static_cast<float>(r - 18) * 1.5f;
          std::memcpy(&columns[c][static_cast<std::size_t>(r)], &v, 4);
        } else {
          columns[c][static_cast<std::size_t>(r)] = static_cast<int32_t>(r * 1777 % 70000) - 3;
        }
      }
      pointers.push_back(columns[c].data());
    }
    std::vector<float> features(static_cast<std::size_t>(rows * compiled.width()));
    std::vector<int64_t> categorical(static_cast<std::size_t>(rows * compiled.categorical_width()));
    kiln::kernels::apply_cpu(compiled, pointers.data(), rows, features.data(), categorical.data());
    for (std::size_t i = 0; i < categorical.size(); ++i) {
      if (categorical[i] < 0 ||
          categorical[i] >= plan.categoricals[i % plan.categoricals.size()].cardinality())
        __builtin_trap();  // an index outside the cardinality the plan declares
    }
  } catch (const kiln::Error&) {
    // Refused with a message: the outcome we want for a bad plan.
  }
  return 0;
}
