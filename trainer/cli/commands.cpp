#include "trainer/cli/commands.h"

#include <filesystem>

#include "core/errors.h"
#include "core/log.h"

namespace kiln::cli {

void register_commands(CLI::App& app) {
  add_version_flag(app);
  add_env_command(app);
  add_config_command(app);
  add_data_command(app);
  add_eval_command(app);
  add_drift_command(app);
  add_fit_commands(app);
  add_registry_command(app);
  add_sweep_command(app);
  add_pipeline_command(app);
}

namespace {
std::vector<std::string>& command_line_storage() {
  static std::vector<std::string> argv;
  return argv;
}
}  // namespace

void set_command_line(int argc, char** argv) {
  command_line_storage().assign(argv, argv + argc);
}

const std::vector<std::string>& command_line() {
  return command_line_storage();
}

std::string self_path() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  KILN_CHECK(!error, InternalError,
             "cannot find the kiln binary (/proc/self/exe): ", error.message());
  return self.string();
}

void add_config_args(CLI::App& command, ConfigArgs& args) {
  command
      .add_option("--config,-c", args.files,
                  "YAML config file; repeat to layer several, later files win")
      ->type_name("FILE")
      ->allow_extra_args(false);
  command
      .add_option("overrides", args.overrides,
                  "overrides applied last, in order: key.path=value sets a key, "
                  "+key.path=value adds one, ~key.path deletes one; values are YAML "
                  "scalars or lists like [1,2]")
      ->type_name("OVERRIDE");
}

trainer::KilnConfig resolve(const ConfigArgs& args) {
  trainer::KilnConfig config = trainer::resolve_kiln_config(args.files, args.overrides);
  core::init_logging(config.log);
  return config;
}

}  // namespace kiln::cli
