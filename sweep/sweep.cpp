#include "sweep/sweep.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/build_info.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"

namespace kiln::sweep {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string trial_id(std::size_t i, std::size_t n) {
  std::string digits = std::to_string(i);
  const std::size_t width = std::max<std::size_t>(4, std::to_string(n - 1).size());
  return "t" + std::string(width - std::min(width, digits.size()), '0') + digits;
}

template <class T>
T field(const json& j, const char* key, const std::string& where) {
  KILN_CHECK(j.contains(key), DataError, where, ": '", key, "' is missing");
  try {
    return j[key].get<T>();
  } catch (const json::exception&) {
    throw DataError(where + ": '" + key + "' has the wrong type: " + j[key].dump());
  }
}

}  // namespace

Objective parse_objective(const std::string& text) {
  Objective o;
  std::string name = text, direction;
  if (auto colon = text.find(':'); colon != std::string::npos) {
    name = text.substr(0, colon);
    direction = text.substr(colon + 1);
  }
  KILN_CHECK(name == "val/auroc" || name == "val/ap" || name == "val/log_loss", ConfigError,
             "--objective: '", text, "': expected val/auroc, val/ap or val/log_loss");
  o.metric = name.substr(4);
  o.maximize = o.metric != "log_loss";
  KILN_CHECK(direction.empty() || direction == (o.maximize ? "max" : "min"), ConfigError,
             "--objective: '", text, "': ", name, " is to be ",
             o.maximize ? "maximized (:max)" : "minimized (:min)");
  return o;
}

nlohmann::ordered_json SweepSettings::to_json() const {
  return {{"format", 1},
          {"kiln_version", core::build_info().version},
          {"sampler", sampler},
          {"trials", trials},
          {"seed", seed},
          {"scheduler", scheduler},
          {"objective",
           {{"name", objective.name()}, {"direction", objective.maximize ? "max" : "min"}}},
          {"eta", eta},
          {"rungs", rungs},
          {"heartbeat_s", heartbeat_s},
          {"stale_after_s", stale_after_s}};
}

SweepSettings SweepSettings::read(const std::string& dir) {
  const std::string path = (fs::path(dir) / "sweep.json").string();
  KILN_CHECK(fs::exists(path), InputError, dir,
             " is not a sweep directory: it has no sweep.json (create one with kiln sweep init)");
  json j;
  try {
    j = json::parse(core::read_file(path, "sweep settings"));
  } catch (const json::exception& e) {
    throw DataError(path + ": not JSON: " + e.what());
  }
  KILN_CHECK(j.is_object(), DataError, path, ": expected a JSON object");
  const int64_t format = field<int64_t>(j, "format", path);
  KILN_CHECK(format == 1, DataError, path, ": format ", format,
             " is newer than this Kiln reads (1); upgrade Kiln");
  SweepSettings s;
  s.sampler = field<std::string>(j, "sampler", path);
  s.trials = field<int64_t>(j, "trials", path);
  s.seed = field<uint64_t>(j, "seed", path);
  s.scheduler = field<std::string>(j, "scheduler", path);
  KILN_CHECK(j.contains("objective") && j["objective"].is_object(), DataError, path,
             ": 'objective' must be an object");
  try {
    s.objective = parse_objective(field<std::string>(j["objective"], "name", path) + ":" +
                                  field<std::string>(j["objective"], "direction", path));
  } catch (const ConfigError& e) {
    throw DataError(path + ": " + e.what());
  }
  s.eta = field<int64_t>(j, "eta", path);
  s.rungs = field<std::vector<int64_t>>(j, "rungs", path);
  s.heartbeat_s = field<double>(j, "heartbeat_s", path);
  s.stale_after_s = field<double>(j, "stale_after_s", path);
  KILN_CHECK(!s.rungs.empty() && s.rungs.size() <= 64 && s.eta >= 2 &&
                 std::is_sorted(s.rungs.begin(), s.rungs.end()) && s.rungs.front() >= 1,
             DataError, path, ": 'rungs' must be 1 to 64 increasing step counts and 'eta' >= 2");
  KILN_CHECK(s.heartbeat_s > 0 && s.stale_after_s > s.heartbeat_s, DataError, path,
             ": expected 0 < heartbeat_s < stale_after_s");
  return s;
}

void create_sweep(const std::string& dir, const SweepSettings& settings,
                  const std::string& base_yaml, const std::string& space_text,
                  const std::vector<Params>& trials) {
  KILN_CHECK(!fs::exists(fs::path(dir) / "sweep.json"), UsageError, dir,
             " already holds a sweep; pick another --dir (nothing was changed)");
  std::error_code error;
  fs::create_directories(fs::path(dir) / "trials", error);
  KILN_CHECK(!error, OutputError, "cannot create '", dir, "': ", error.message());
  core::atomic_write((fs::path(dir) / "base.yaml").string(), base_yaml);
  core::atomic_write((fs::path(dir) / "space.yaml").string(), space_text);
  std::vector<json> events = {{{"event", "sweep"}, {"settings", settings.to_json()}}};
  for (std::size_t i = 0; i < trials.size(); ++i)
    events.push_back(
        {{"event", "add"}, {"trial", trial_id(i, trials.size())}, {"params", trials[i]}});
  Journal::create(dir, events);
  core::atomic_write((fs::path(dir) / "sweep.json").string(), settings.to_json().dump(1) + "\n");
}

std::string trial_dir(const std::string& dir, const std::string& trial) {
  return (fs::path(dir) / "trials" / trial).string();
}

Job next_job(const SweepState& state, const SweepSettings& settings, const std::string& worker,
             double now, std::vector<json>& events) {
  SweepState s = state;  // with this call's requeues applied
  auto emit = [&](json event) {
    event["t"] = now;
    s.apply(event, "next_job");
    events.push_back(std::move(event));
  };
  for (const Trial& t : state.trials) {
    if (t.state != Trial::State::kRunning) continue;
    const double silent = now - t.heartbeat;
    if (t.worker == worker) {
      emit({{"event", "requeue"},
            {"trial", t.id},
            {"lease", t.lease},
            {"reason", "worker " + worker + " restarted"}});
    } else if (silent > settings.stale_after_s) {
      emit({{"event", "requeue"},
            {"trial", t.id},
            {"lease", t.lease},
            {"reason",
             "worker " + t.worker + " silent for " + std::to_string(std::lround(silent)) + " s"}});
    }
  }
  const Trial* pick = nullptr;
  int rung = 0;
  for (const Trial& t : s.trials)  // work in progress first
    if (t.state == Trial::State::kQueued && (t.claims > 0 || t.rung > 0)) {
      pick = &t;
      rung = t.rung;
      break;
    }
  if (pick == nullptr) {
    if (auto promoted = promotion(s, settings.rungs, settings.eta, settings.objective.maximize)) {
      pick = s.find(*promoted);
      rung = pick->rung + 1;
    }
  }
  if (pick == nullptr) {
    for (const Trial& t : s.trials)
      if (t.state == Trial::State::kQueued) {
        pick = &t;
        rung = t.rung;
        break;
      }
  }
  if (pick != nullptr) {
    Job job{Job::Kind::kRun, pick->id, rung, settings.rungs[static_cast<std::size_t>(rung)],
            s.leases + 1};
    emit({{"event", "claim"},
          {"trial", job.trial},
          {"lease", job.lease},
          {"worker", worker},
          {"rung", rung},
          {"steps", job.steps}});
    return job;
  }
  for (const Trial& t : s.trials)
    if (t.state == Trial::State::kRunning) return Job{Job::Kind::kWait, "", 0, 0, 0};
  for (const Trial& t : s.trials)
    if (t.state == Trial::State::kPaused)
      emit({{"event", "finish"},
            {"trial", t.id},
            {"state", "pruned"},
            {"reason", "not among the top 1/" + std::to_string(settings.eta) + " at rung " +
                           std::to_string(t.rung)}});
  return Job{Job::Kind::kDone, "", 0, 0, 0};
}

std::vector<const Trial*> leaderboard(const SweepState& state, const Objective& objective) {
  std::vector<const Trial*> ranked, rest;
  for (const Trial& t : state.trials)
    (t.last_result() && std::isfinite(t.last_result()->value) ? ranked : rest).push_back(&t);
  std::stable_sort(ranked.begin(), ranked.end(), [&](const Trial* a, const Trial* b) {
    // A completed trial (the last rung, or stopped early by patience) ranks as the top rung.
    auto reached = [](const Trial* t) {
      return t->state == Trial::State::kCompleted ? 1 << 20 : t->rungs.rbegin()->first;
    };
    const int ra = reached(a), rb = reached(b);
    if (ra != rb) return ra > rb;
    const double va = a->last_result()->value, vb = b->last_result()->value;
    if (va != vb) return objective.maximize ? va > vb : va < vb;
    return false;
  });
  ranked.insert(ranked.end(), rest.begin(), rest.end());
  return ranked;
}

const Trial* best_trial(const SweepState& state, const Objective& objective) {
  auto board = leaderboard(state, objective);
  return board.empty() || !board.front()->last_result() ? nullptr : board.front();
}

}  // namespace kiln::sweep
