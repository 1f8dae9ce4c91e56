#include "sweep/journal.h"

#include <filesystem>

#include "core/errors.h"
#include "core/json_fields.h"

namespace kiln::sweep {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using core::json_int;
using core::json_number;
using core::json_string;

std::string journal_path(const std::string& dir) {
  return (fs::path(dir) / "journal.jsonl").string();
}

constexpr int64_t kMaxLease = 1'000'000'000'000;  // far beyond any sweep, and no overflow

constexpr const char* kMissing = " (is this a sweep directory? see kiln sweep init)";

Trial::State parse_final_state(const std::string& s, const std::string& where) {
  if (s == "failed") return Trial::State::kFailed;
  if (s == "pruned") return Trial::State::kPruned;
  throw DataError(where + ": 'state' is '" + s + "', expected failed or pruned");
}

}  // namespace

std::optional<RungResult> Trial::last_result() const {
  if (rungs.empty()) return std::nullopt;
  return rungs.rbegin()->second;
}

const char* state_name(Trial::State state) {
  switch (state) {
    case Trial::State::kQueued:
      return "queued";
    case Trial::State::kRunning:
      return "running";
    case Trial::State::kPaused:
      return "paused";
    case Trial::State::kCompleted:
      return "completed";
    case Trial::State::kPruned:
      return "pruned";
    case Trial::State::kFailed:
      return "failed";
  }
  return "?";
}

Trial* SweepState::find(const std::string& id) {
  for (Trial& t : trials)
    if (t.id == id) return &t;
  return nullptr;
}

const Trial* SweepState::find(const std::string& id) const {
  return const_cast<SweepState*>(this)->find(id);
}

void SweepState::apply(const json& e, const std::string& where) {
  ++lines;
  const std::string event = json_string(e, "event", where);
  if (event == "sweep") return;  // the header: settings live in sweep.json
  const std::string id = json_string(e, "trial", where);
  Trial* trial = find(id);
  if (event == "add") {
    KILN_CHECK(trial == nullptr, DataError, where, ": trial ", id, " is added twice");
    KILN_CHECK(e.contains("params") && e["params"].is_object(), DataError, where,
               ": 'params' must be an object");
    Trial t;
    t.id = id;
    t.params = e["params"];
    trials.push_back(std::move(t));
    return;
  }
  KILN_CHECK(trial != nullptr, DataError, where, ": unknown trial ", id);
  if (event == "claim") {
    const int64_t lease = json_int(e, "lease", where, 1, kMaxLease);
    const int rung = static_cast<int>(json_int(e, "rung", where, 0, 64));
    KILN_CHECK(lease == leases + 1, DataError, where, ": lease ", lease, " out of order (expected ",
               leases + 1, ")");
    const bool start = trial->state == Trial::State::kQueued && rung == trial->rung;
    const bool promote = trial->state == Trial::State::kPaused && rung == trial->rung + 1;
    KILN_CHECK(start || promote, DataError, where, ": trial ", id, " is ", state_name(trial->state),
               " at rung ", trial->rung, " and cannot be claimed for rung ", rung);
    leases = lease;
    trial->state = Trial::State::kRunning;
    trial->rung = rung;
    trial->lease = lease;
    trial->worker = json_string(e, "worker", where);
    trial->heartbeat = json_number(e, "t", where);
    trial->reason.clear();  // why it was requeued no longer holds
    ++trial->claims;
    return;
  }
  if (event == "finish" && e.value("state", "") == "pruned") {
    KILN_CHECK(trial->state == Trial::State::kPaused, DataError, where, ": trial ", id, " is ",
               state_name(trial->state), ", only a paused trial can be pruned");
    trial->state = Trial::State::kPruned;
    trial->reason = e.value("reason", "");
    return;
  }
  // The rest come from the worker holding the lease; a revoked worker's are void.
  const int64_t lease = json_int(e, "lease", where, 1, kMaxLease);
  if (trial->state != Trial::State::kRunning || trial->lease != lease) return;
  if (event == "heartbeat") {
    trial->heartbeat = json_number(e, "t", where);
  } else if (event == "rung") {
    const int rung = static_cast<int>(json_int(e, "rung", where, 0, 64));
    KILN_CHECK(rung == trial->rung, DataError, where, ": trial ", id, " runs to rung ", trial->rung,
               ", not ", rung);
    KILN_CHECK(e.contains("final") && e["final"].is_boolean(), DataError, where,
               ": 'final' must be true or false");
    const RungResult result{json_int(e, "steps", where), json_number(e, "value", where)};
    const int64_t before = trial->rungs.empty() ? 0 : trial->rungs.rbegin()->second.steps;
    trial->rungs[rung] = result;
    const bool final = e["final"].get<bool>();
    history.push_back({id, rung, result, std::max<int64_t>(0, result.steps - before), final});
    trial->state = final ? Trial::State::kCompleted : Trial::State::kPaused;
    trial->lease = 0;
  } else if (event == "finish") {
    trial->state = parse_final_state(json_string(e, "state", where), where);
    trial->exit_code = static_cast<int>(json_int(e, "exit", where, 0, 255));
    trial->reason = e.value("reason", "");
    trial->lease = 0;
  } else if (event == "requeue") {
    trial->state = Trial::State::kQueued;
    trial->reason = e.value("reason", "");
    trial->lease = 0;
  } else {
    throw DataError(where + ": unknown event '" + event + "'");
  }
}

Journal::Journal(std::string dir)
    : log_(journal_path(dir), (fs::path(dir) / "journal.lock").string(), false, kMissing) {}

void Journal::transact(const std::function<std::vector<json>(const SweepState&)>& decide) {
  log_.transact([this](const json& e, const std::string& where) { state_.apply(e, where); },
                [&] { return decide(state_); }, [this] { state_ = {}; });
}

SweepState Journal::read(const std::string& dir) {
  SweepState state;
  core::EventLog::replay(
      journal_path(dir), [&](const json& e, const std::string& where) { state.apply(e, where); },
      kMissing);
  return state;
}

void Journal::create(const std::string& dir, const std::vector<json>& events) {
  SweepState check;  // what init writes must replay
  core::EventLog::create(journal_path(dir), events,
                         [&](const json& e, const std::string& where) { check.apply(e, where); });
}

double journal_now() {
  return core::journal_now();
}

}  // namespace kiln::sweep
