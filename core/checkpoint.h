// Checkpoint directories (docs/CHECKPOINTS.md): the files of one checkpoint, its
// MANIFEST.json, the atomic write protocol, the `latest` and `best` pointers, retention and
// verification. No LibTorch: the trainer hands over each file's bytes.
//
//   <run>/checkpoints/step_00001200/{model.safetensors, optimizer.safetensors, state.json,
//                                    transform.json, config.yaml, profile.json, scores.json,
//                                    MANIFEST.json}
//   <run>/checkpoints/latest, best      one line each: the name of a checkpoint directory
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kiln::core {

inline constexpr const char* kCheckpointFormat = "kiln.checkpoint";
inline constexpr int kCheckpointVersion = 1;

// What goes into one checkpoint.
struct CheckpointContents {
  int64_t step = 0;
  std::map<std::string, std::string> files;  // name -> bytes; MANIFEST.json is added
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
  std::string data_fingerprint;
  std::string parent;  // the previous checkpoint's name, or empty
};

// "step_00001200"
std::string checkpoint_name(int64_t step);

// Writes checkpoints/<checkpoint_name(step)>: every file into a temporary directory beside
// it, each fsynced, MANIFEST.json (format, version, Kiln version and revision, step,
// fingerprint, parent, metrics, size and SHA-256 of every file) last, the directory renamed
// into place and `checkpoints` fsynced; then the `latest` pointer replaced atomically (and
// `best` too when `best`). A crash at any point leaves the previous checkpoints and pointers
// as they were. Returns the checkpoint's path. OutputError naming the path on failure.
std::string write_checkpoint(const std::string& checkpoints, const CheckpointContents& contents,
                             bool best);

// The checkpoints/ directory of a run directory, or `path` itself when it has none (it is
// a checkpoints/ directory already, or a checkpoint).
std::string checkpoints_of(const std::string& path);

// The checkpoint a pointer file names, or nullopt when there is no pointer.
std::optional<std::string> read_pointer(const std::string& checkpoints, const std::string& pointer);

// The checkpoint that is a run's model: `path` itself when it is a checkpoint; for a run
// directory whose refit (train.refit) is complete, the refit's (RUN/refit's `best`); else (a
// run directory or its checkpoints/) the one its `best` pointer names, else `path` (which
// verify_checkpoint then resolves by `latest`).
std::string model_checkpoint(const std::string& path);

struct VerifiedCheckpoint {
  std::string path;
  nlohmann::json manifest;
  int64_t step = 0;
};

// Checks a checkpoint directory as untrusted input: MANIFEST.json parses, has the format and
// a version this Kiln reads, lists files by plain names only, and every listed file exists
// with its size and SHA-256; the safetensors files pass core/safetensors' checks. Accepts a
// run directory or its checkpoints/ directory too (then `latest`). DataError naming the file
// and what is wrong; InputError when the path is missing; VersionError-style DataError for
// a newer format version. The files are hashed in parallel; `hashes` false checks all but
// the SHA-256s (a caller that hashed the bytes as it copied them).
VerifiedCheckpoint verify_checkpoint(const std::string& path, bool hashes = true);

// What `kiln checkpoint verify` checks: `path` itself when it is a checkpoint; for a run
// directory or its checkpoints/, each checkpoint a reader of the run loads, once: `latest`
// (resume), `best` and the run's model (model_checkpoint: the refit's after train.refit).
// `roles` names what each is ("latest, best"). Throws as verify_checkpoint, at the first
// that fails.
struct RunCheckpoint {
  std::string roles;
  VerifiedCheckpoint checkpoint;
};
std::vector<RunCheckpoint> verify_run_checkpoints(const std::string& path);

// Checkpoint directories under `checkpoints` (names step_*), oldest first.
std::vector<std::string> list_checkpoints(const std::string& checkpoints);

// The newest checkpoint under `checkpoints` that verifies, skipping (and naming in `skipped`)
// those that do not; nullopt when none does.
std::optional<VerifiedCheckpoint> newest_good_checkpoint(const std::string& checkpoints,
                                                         std::vector<std::string>* skipped);

// One checkpoint of a run as `kiln checkpoint ls` lists it. Read without verifying (a listing
// of damaged checkpoints still lists them): step and metrics come from MANIFEST.json when it
// parses.
struct CheckpointInfo {
  std::string path;
  bool latest = false, best = false;  // what the run's pointers name
  bool model = false;                 // the run's model (model_checkpoint)
  uintmax_t bytes = 0;                // of its files
  std::optional<int64_t> step;
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
  nlohmann::ordered_json to_json() const;  // {path, latest, best, model, bytes, step, metrics}
};

// The checkpoints of a run directory (or its checkpoints/ directory), oldest first, then the
// run's model when it is not one of them (a refitted run's: RUN/refit's best). InputError
// when there is no checkpoints directory.
std::vector<CheckpointInfo> checkpoint_infos(const std::string& run);

// Deletes checkpoints beyond the newest `keep_last`, except the one `best` points to, and
// remove_leftovers().
void apply_retention(const std::string& checkpoints, int64_t keep_last);

// Deletes the temporaries (checkpoint directories, pointer files) that writes interrupted by
// a kill left in `checkpoints`: only one process writes a run's checkpoints.
void remove_leftovers(const std::string& checkpoints);

}  // namespace kiln::core
