#include "trainer/config.h"

#include "core/config.h"

namespace kiln::trainer {

KilnConfig resolve_kiln_config(const std::vector<std::string>& files,
                               const std::vector<std::string>& overrides) {
  KilnConfig config = core::resolve_config<KilnConfig>(files, overrides);
  core::validate(config.log);
  return config;
}

}  // namespace kiln::trainer
