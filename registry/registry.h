// The model registry (docs/REGISTRY.md): a directory on a shared file system, no server.
//
//   REGISTRY/NAME/journal.jsonl, journal.lock   every version number and alias move
//   REGISTRY/NAME/versions/vN/                  an immutable version: the checkpoint's files
//                                               (MANIFEST.json, ...), version.json (the model
//                                               card) and evals/K/ (reports attached at
//                                               registration); files read-only
//   REGISTRY/NAME/aliases/ALIAS.json            what an alias holds, rewritten atomically
//                                               from the journal (readers never lock)
//   REGISTRY/NAME/reports/ID/                   evaluations attached later (promote)
//   REGISTRY/NAME/.staging/                     versions being made; invisible
//
// A version appears by one rename, after every file and its card are written and fsynced;
// its number is taken and the rename made under the journal's lock, and a version whose
// register was killed between the rename and the journal line is recorded by the next
// writer. Everything read from a registry is untrusted: DataError (65) naming the file and
// line; a missing model, version or alias is InputError (66) naming it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "registry/journal.h"
#include "registry/ref.h"

namespace kiln::registry {

struct RegisterOptions {
  std::string source{};  // a checkpoint, or a run directory (its best checkpoint)
  std::string name{};
  std::vector<std::string> aliases{};         // set to the new version
  std::map<std::string, std::string> tags{};  // key -> value
  std::vector<std::string> evals{};           // `kiln eval` report directories to attach
  bool copy = false;                          // copy the files even where hard links work
};

struct Registered {
  int64_t version = 0;
  std::string path;     // the version's directory
  bool linked = false;  // its checkpoint files are hard links (else copies)
  nlohmann::ordered_json card;
};

// A reference resolved to a version: what outputs record as provenance.
struct Resolved {
  Ref ref;
  int64_t version = 0;
  std::string path;  // the version's directory: a checkpoint
  std::string at;    // when it was resolved
  // "fraud/v7 (champion at 2026-12-04T21:50:00Z)", or "fraud/v7"
  std::string text() const;
  nlohmann::ordered_json to_json() const;  // ref, text, name, version, version_ref, alias, at, path
};

// A command's model argument: a checkpoint or run path as given, or a registry reference
// resolved in registry_dir(registry_flag).
struct ModelSource {
  std::string path;
  std::optional<Resolved> registry;
};
ModelSource resolve_model(const std::string& text, const std::string& registry_flag);

struct MoveOptions {
  std::string name{}, alias{};
  int64_t version = 0;              // the version it is to hold
  std::optional<int64_t> expect{};  // compare-and-set: what it must hold now (0: nothing)
  std::string how = "set";          // set or promote
  bool forced = false;              // promote --force
  std::string report{};             // the report id that allowed a promotion
};

// Writers keep each model's journal as they last replayed it, so that a long-lived process
// (a service, a benchmark) reads only the lines appended since. Readers replay afresh.
class Registry {
 public:
  explicit Registry(std::string dir);
  ~Registry();
  Registry(Registry&&) noexcept;
  Registry& operator=(Registry&&) noexcept;
  const std::string& dir() const { return dir_; }

  // Verifies the source checkpoint (MANIFEST SHA-256), links or copies its files into the
  // next version with its card, and sets the aliases. UsageError for a bad name, the
  // checkpoint's errors, OutputError when the registry cannot be written.
  Registered register_version(const RegisterOptions& options);

  // Records the versions that registers killed after their rename left out of the journal
  // (as the next register would) and returns the model's state. InputError when there is no
  // such model.
  const ModelState& recover(const std::string& name);

  // The version a reference names. Reads the alias file or the version's card, no lock.
  // InputError (66) naming the model, alias or version that is not there.
  Resolved resolve(const Ref& ref) const;

  // The replay of a model's journal (no lock). InputError when there is no such model.
  ModelState state(const std::string& name) const;
  // The registered models' names, sorted. InputError when the registry does not exist.
  std::vector<std::string> models() const;
  // A version's card (version.json), checked against the SHA-256 its register event records.
  nlohmann::ordered_json card(const std::string& name, int64_t version) const;
  std::string version_dir(const std::string& name, int64_t version) const;
  std::string report_dir(const std::string& name, const std::string& id) const;

  // Moves an alias. ConflictError (5) when `expect` is given and the alias holds another
  // version; UsageError for an unknown or archived version. Returns the move.
  AliasMove move_alias(const MoveOptions& options);
  // The alias returns to the version it held before its last move (a stack: rolling back
  // twice goes back two moves). UsageError when it held nothing before; ConflictError as
  // for move_alias.
  AliasMove rollback(const std::string& name, const std::string& alias,
                     std::optional<int64_t> expect);
  AliasMove remove_alias(const std::string& name, const std::string& alias,
                         std::optional<int64_t> expect);
  void tag(const std::string& name, int64_t version, const std::map<std::string, std::string>& set,
           const std::vector<std::string>& unset);
  // Hides a version from listings (kept on disk); UsageError when an alias holds it.
  void archive(const std::string& name, int64_t version);
  // Copies a `kiln eval` report directory to NAME/reports/<id>/ and records it with the
  // version; returns the id.
  std::string attach_report(const std::string& name, int64_t version,
                            const std::string& report_dir);

  // Checks every file of a model's versions (or one version) against its SHA-256, every
  // card against the journal, and every alias file against the journal. Returns what is
  // wrong, one line each ("<path>: <what>"); empty when all is well. InputError when the
  // model or version does not exist.
  std::vector<std::string> verify(const std::string& name, int64_t version = 0) const;

 private:
  struct Journal;
  std::string model_dir(const std::string& name) const;
  // The model's journal.jsonl; InputError ("no model") when it has none.
  std::string journal_file(const std::string& name) const;
  // Under the journal's lock: `decide` sees the state replayed to the end and returns the
  // events to append; then the alias files are brought up to date. Returns the state after.
  const ModelState& transact(
      const std::string& name,
      const std::function<std::vector<nlohmann::json>(const ModelState&)>& decide,
      bool create = false);
  std::string dir_;
  std::map<std::string, std::unique_ptr<Journal>> journals_;
};

}  // namespace kiln::registry
