// The subcommands of `kiln`. register_commands() in commands.cpp is the one list of them;
// each command lives in its own file and adds itself to the app it is given.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "trainer/config.h"

namespace kiln::cli {

void register_commands(CLI::App& app);

void add_env_command(CLI::App& app);
void add_config_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_eval_command(CLI::App& app);
// `kiln drift`.
void add_drift_command(CLI::App& app);
// `kiln fit`, `kiln predict`, `kiln checkpoint ls|verify` and `kiln report`.
void add_fit_commands(CLI::App& app);
// `kiln registry register|ls|show|alias|tag|archive|verify|promote|rollback|history`.
void add_registry_command(CLI::App& app);
// `kiln sweep init|worker|run|status|best|report`.
void add_sweep_command(CLI::App& app);
// `kiln pipeline run`.
void add_pipeline_command(CLI::App& app);

// This binary (/proc/self/exe): what sweep workers and pipelines start for their children.
std::string self_path();

// The command line as main() received it (for run.json).
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();
// `kiln data fit-transform` and `kiln data transform`, added to the `data` command.
void add_transform_commands(CLI::App& data);

// `--version [--json]` on the top-level app; prints when given, after parsing.
void add_version_flag(CLI::App& app);

// The config arguments every config-taking command accepts:
// `[--config FILE]... [key.path=value | +key.path=value | ~key.path]...`.
struct ConfigArgs {
  std::vector<std::string> files;
  std::vector<std::string> overrides;
};
void add_config_args(CLI::App& command, ConfigArgs& args);
// Resolves the config and switches logging to its `log` section.
trainer::KilnConfig resolve(const ConfigArgs& args);

}  // namespace kiln::cli
