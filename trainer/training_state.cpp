#include "trainer/training_state.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/errors.h"
#include "core/files.h"
#include "core/hex.h"

namespace kiln::trainer {
namespace {

using json = nlohmann::json;

// state.json's integer `key` in [low, high] (`fallback` when absent, if given); DataError
// naming the file and key otherwise.
int64_t integer(const json& state, const char* key, int64_t low, int64_t high,
                const std::string& path, std::optional<int64_t> fallback = std::nullopt) {
  if (fallback && !state.contains(key)) return *fallback;
  KILN_CHECK(state.contains(key) && state[key].is_number_integer(), DataError, path,
             ": no integer '", key, "'");
  const auto value = state[key].get<int64_t>();
  KILN_CHECK(value >= low && value <= high, DataError, path, ": '", key, "' is ", value,
             ", outside [", low, ", ", high, "]");
  return value;
}

}  // namespace

std::string TrainingState::to_json_text() const {
  nlohmann::ordered_json steps = nlohmann::ordered_json::object();
  for (const auto& [name, count] : optimizer_steps)
    steps[name] = count;
  nlohmann::ordered_json state = {
      {"step", step},
      {"epoch", cursor.epoch},
      {"batch", cursor.batch},
      {"pos_weight", pos_weight},
      {"best_value",
       best_value && std::isfinite(*best_value) ? nlohmann::ordered_json(*best_value) : nullptr},
      {"best_step", best_step},
      {"evals_without_gain", evals_without_gain},
      {"lr", lr},
      {"rng_cpu", core::to_hex(rng_cpu)},
      {"optimizer_steps", steps},
      {"world_size", world_size}};
  if (world_size > 1) {
    state["rng_cpu_ranks"] = nlohmann::ordered_json::array();
    for (const std::string& bytes : rng_cpu_ranks)
      state["rng_cpu_ranks"].push_back(core::to_hex(bytes));
  }
  return state.dump(1) + "\n";
}

TrainingState TrainingState::read(const std::string& checkpoint) {
  const std::string path = (std::filesystem::path(checkpoint) / "state.json").string();
  const json state = json::parse(core::read_file(path, "checkpoint state"), nullptr, false);
  KILN_CHECK(state.is_object(), DataError, path, ": not a JSON object");
  TrainingState s;
  s.step = integer(state, "step", 0, std::numeric_limits<int64_t>::max(), path);
  s.cursor.epoch = integer(state, "epoch", 0, s.step, path);
  s.cursor.batch = integer(state, "batch", 0, s.step, path);
  KILN_CHECK(state.contains("pos_weight") && state["pos_weight"].is_number(), DataError, path,
             ": no pos_weight");
  s.pos_weight = state["pos_weight"].get<double>();
  KILN_CHECK(s.pos_weight > 0 && std::isfinite(s.pos_weight), DataError, path, ": pos_weight ",
             s.pos_weight, " is not a positive number");
  if (state.contains("best_value") && state["best_value"].is_number()) {
    s.best_value = state["best_value"].get<double>();
    KILN_CHECK(std::isfinite(*s.best_value), DataError, path, ": best_value is not finite");
  }
  s.best_step = integer(state, "best_step", -1, s.step, path);
  s.evals_without_gain = integer(state, "evals_without_gain", 0, s.step, path);
  if (state.contains("lr") && state["lr"].is_number()) s.lr = state["lr"].get<double>();
  if (state.contains("rng_cpu")) {
    KILN_CHECK(state["rng_cpu"].is_string(), DataError, path, ": rng_cpu is not a string");
    const std::optional<std::string> bytes = core::from_hex(state["rng_cpu"].get<std::string>());
    KILN_CHECK(bytes.has_value(), DataError, path, ": rng_cpu is not hexadecimal");
    s.rng_cpu = *bytes;
  }
  s.world_size = static_cast<int>(integer(state, "world_size", 1, 1 << 20, path, 1));
  if (s.world_size > 1) {
    const auto* ranks = state.contains("rng_cpu_ranks") ? &state["rng_cpu_ranks"] : nullptr;
    KILN_CHECK(ranks != nullptr && ranks->is_array() &&
                   ranks->size() == static_cast<std::size_t>(s.world_size - 1),
               DataError, path, ": rng_cpu_ranks must list the generator states of ranks 1 to ",
               s.world_size - 1);
    for (const json& text : *ranks) {
      const std::optional<std::string> bytes =
          text.is_string() ? core::from_hex(text.get<std::string>()) : std::nullopt;
      KILN_CHECK(bytes.has_value(), DataError, path,
                 ": rng_cpu_ranks holds a value that is not "
                 "hexadecimal");
      s.rng_cpu_ranks.push_back(*bytes);
    }
  }
  if (state.contains("optimizer_steps")) {
    const json& steps = state["optimizer_steps"];
    KILN_CHECK(steps.is_object(), DataError, path, ": optimizer_steps is not an object");
    for (const auto& [name, count] : steps.items()) {
      KILN_CHECK(count.is_number_integer() && count.get<int64_t>() >= 0, DataError, path,
                 ": optimizer_steps['", name, "'] is not a step count");
      s.optimizer_steps[name] = count.get<int64_t>();
    }
  }
  return s;
}

}  // namespace kiln::trainer
