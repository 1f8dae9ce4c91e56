// A sweep's journal: D/journal.jsonl, append-only JSON lines written under an advisory lock
// (D/journal.lock), and the sweep's state as the replay of those lines (docs/SWEEPS.md has
// every event). No database server: any number of workers on any machines that share the
// file system read and append it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/event_log.h"
#include "sweep/space.h"

namespace kiln::sweep {

struct RungResult {
  int64_t steps = 0;  // steps trained when the value was measured
  double value = 0;   // the objective (the trial's result.json objective)
};

struct Trial {
  enum class State { kQueued, kRunning, kPaused, kCompleted, kPruned, kFailed };
  std::string id;  // t0000, t0001, ...
  Params params;
  State state = State::kQueued;
  int rung = 0;          // queued for, running to, or paused at this rung
  int64_t lease = 0;     // the claim that runs it (running only)
  std::string worker;    // who runs or ran it last
  double heartbeat = 0;  // when its worker last said it was alive (unix seconds)
  int claims = 0;        // how often it was started or resumed
  std::map<int, RungResult> rungs;
  int exit_code = 0;   // failed: the trial's exit code
  std::string reason;  // failed, pruned or the last requeue: why

  bool finished() const {
    return state == State::kCompleted || state == State::kPruned || state == State::kFailed;
  }
  // The value at its highest rung, if any.
  std::optional<RungResult> last_result() const;
};

const char* state_name(Trial::State state);

// A recorded rung result, in journal order (for the search's trajectory).
struct RungEvent {
  std::string trial;
  int rung = 0;
  RungResult result;
  int64_t new_steps = 0;  // steps trained for it beyond the trial's previous rung
  bool final = false;     // the trial completed with it
};

struct SweepState {
  std::vector<Trial> trials;  // in the order they were added
  std::vector<RungEvent> history;
  int64_t leases = 0;  // claims so far; the next claim's lease is leases + 1
  int64_t lines = 0;   // journal lines replayed

  Trial* find(const std::string& id);
  const Trial* find(const std::string& id) const;
  // Applies one event. DataError naming `where` (file and line) for a malformed event or
  // one that contradicts the state (a claim of a running trial, an unknown trial, ...).
  // Events that carry a lease no longer current (a revoked worker's) change nothing.
  void apply(const nlohmann::json& event, const std::string& where);
};

class Journal {
 public:
  // The journal of sweep directory `dir`; reads nothing yet.
  explicit Journal(std::string dir);

  // Runs `decide` under the lock with the state replayed to the end of the file, then
  // appends the events it returns (each stamped with "t", the time) in one write, fsyncs,
  // applies them, and releases the lock. A torn last line (a writer killed mid-write) is
  // cut off first. Throws DataError for a malformed journal, OutputError when it cannot
  // be written.
  void transact(const std::function<std::vector<nlohmann::json>(const SweepState&)>& decide);

  // Replays the whole journal without the lock (status, reports): a torn last line is
  // ignored. InputError (66) when there is no journal.
  static SweepState read(const std::string& dir);

  const SweepState& state() const { return state_; }
  const std::string& path() const { return log_.path(); }

  // Writes a new journal with `events` (sweep init), replacing any. OutputError on failure.
  static void create(const std::string& dir, const std::vector<nlohmann::json>& events);

 private:
  core::EventLog log_;
  SweepState state_;
};

// The current time as the journal records it: unix seconds.
double journal_now();

}  // namespace kiln::sweep
