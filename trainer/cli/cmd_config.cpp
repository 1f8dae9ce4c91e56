// kiln config show | keys
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "data/dataset.h"
#include "trainer/auto_config.h"
#include "trainer/cli/commands.h"

namespace kiln::cli {

void add_config_command(CLI::App& app) {
  CLI::App* config = app.add_subcommand("config", "Show the resolved config or the known keys");
  config->require_subcommand(1);

  auto show_args = std::make_shared<ConfigArgs>();
  auto show_json = std::make_shared<bool>(false);
  auto show_data = std::make_shared<std::string>();
  CLI::App* show = config->add_subcommand(
      "show",
      "Print the config that a command given these --config files and overrides would use: "
      "built-in defaults < each --config file in order < overrides. Exits 78 naming an unknown "
      "key and the nearest known one. With --data, `auto` values become what `kiln fit` would "
      "choose for that train split, with the reasons.");
  add_config_args(*show, *show_args);
  show->add_flag("--json", *show_json, "print JSON instead of YAML (with --data: {config, auto})");
  show->add_option("--data", *show_data,
                   "a train split: show the `auto` values chosen for it (default: none; "
                   "data.train is not read)");
  show->callback([show_args, show_json, show_data] {
    trainer::KilnConfig resolved = resolve(*show_args);
    if (show_data->empty()) {
      std::cout << (*show_json ? core::schema::to_json(resolved).dump(2) + "\n"
                               : core::schema::to_yaml_text(resolved));
      return;
    }
    const trainer::DataFacts facts = trainer::data_facts(*data::Dataset::open(*show_data));
    const std::vector<trainer::AutoChoice> choices = trainer::resolve_auto(resolved, facts);
    if (!*show_json) {
      std::cout << trainer::resolved_yaml(resolved, choices, facts);
      return;
    }
    nlohmann::ordered_json out = {{"config", core::schema::to_json(resolved)},
                                  {"auto", nlohmann::ordered_json::object()}};
    for (const auto& c : choices)
      out["auto"][c.key] = {{"value", nlohmann::ordered_json::parse(c.value)}, {"why", c.why}};
    std::cout << out.dump(2) << "\n";
  });

  auto keys_json = std::make_shared<bool>(false);
  CLI::App* keys = config->add_subcommand(
      "keys", "List every config key with its default and what it does (KEY.* is an open map)");
  keys->add_flag("--json", *keys_json, "print a JSON array of {key, default, doc}");
  keys->callback([keys_json] {
    auto infos = core::schema::keys_of<trainer::KilnConfig>();
    if (*keys_json) {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& k : infos)
        out.push_back({{"key", k.key}, {"default", k.default_value}, {"doc", k.doc}});
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::size_t width = 0;
    for (const auto& k : infos)
      width = std::max(width, k.key.size());
    for (const auto& k : infos) {
      std::cout << k.key << std::string(width + 2 - k.key.size(), ' ') << k.default_value << "\n"
                << std::string(width + 2, ' ') << k.doc << "\n";
    }
  });
}

}  // namespace kiln::cli
