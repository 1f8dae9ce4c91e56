// One registered model's journal: NAME/journal.jsonl, append-only JSON lines under the lock
// NAME/journal.lock (core/event_log.h), and the model's state as their replay: its versions
// with their tags, archive marks and attached reports, and each alias's history. Every
// version number and alias move goes through it; docs/REGISTRY.md lists the events.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln::registry {

struct VersionState {
  int64_t version = 0;
  double created = 0;       // unix seconds of its register event
  std::string card_sha256;  // of its version.json
  bool archived = false;
  std::map<std::string, std::string> tags;
  std::vector<std::string> reports;  // attached after registration: NAME/reports/<id>
};

// One alias move, as the journal records it.
struct AliasMove {
  std::string alias;
  int64_t version = 0;  // 0: the alias was removed
  int64_t from = 0;     // what it held before; 0: nothing
  std::string how;      // register, set, promote, rollback, remove
  double t = 0;
  std::string user, host;
  bool forced = false;  // promote --force: moved without evidence
  std::string report;   // promote: the evaluation that allowed it (NAME/reports/<id>)
  nlohmann::ordered_json to_json() const;
};

struct ModelState {
  std::map<int64_t, VersionState> versions;
  // Per alias, the versions it held that a rollback returns to, oldest first; the last is
  // what it holds now. A move pushes, a rollback pops, a removal clears.
  std::map<std::string, std::vector<int64_t>> aliases;
  std::map<std::string, double> alias_since;  // when each alias last moved
  std::vector<AliasMove> moves;               // every move, in journal order
  int64_t last_version = 0;

  // The version `alias` holds now, or nullopt.
  std::optional<int64_t> alias(const std::string& alias) const;
  // The aliases that hold `version` now.
  std::vector<std::string> aliases_of(int64_t version) const;
  const VersionState* find(int64_t version) const;

  // Applies one event; DataError naming `where` for a malformed one or one that contradicts
  // the state (an unknown version, a number out of order, a move from a version the alias
  // does not hold).
  void apply(const nlohmann::json& event, const std::string& where);
};

}  // namespace kiln::registry
