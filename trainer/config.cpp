#include "trainer/config.h"

#include "core/config.h"

namespace kiln::trainer {

KilnConfig resolve_kiln_config(const std::vector<std::string>& files,
                               const std::vector<std::string>& overrides) {
  KilnConfig config = core::resolve_config<KilnConfig>(files, overrides);
  core::validate(config.log);
  // Per-column entries are checked when a dataset's schema gives their columns' roles.
  kernels::parse_steps(config.transform.numeric, data::Role::kNumeric, "transform.numeric");
  kernels::parse_steps(config.transform.categorical, data::Role::kCategorical,
                       "transform.categorical");
  eval::report_options(config.eval, static_cast<uint64_t>(config.run.seed));
  return config;
}

}  // namespace kiln::trainer
