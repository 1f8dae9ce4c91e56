#include "core/checkpoint.h"

#include <future>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/build_info.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/sha256.h"

namespace kiln::core {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kManifest = "MANIFEST.json";

bool is_checkpoint_name(const std::string& name) {
  return name.size() == 13 && name.rfind("step_", 0) == 0 &&
         std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A file name inside a checkpoint: no directories, nothing hidden.
bool is_plain_name(const std::string& name) {
  return !name.empty() && name[0] != '.' && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

std::string checkpoint_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step_%08lld", static_cast<long long>(step));
  return name;
}

std::string write_checkpoint(const std::string& checkpoints, const CheckpointContents& contents,
                             bool best) {
  const std::string name = checkpoint_name(contents.step);
  const fs::path final_path = fs::path(checkpoints) / name;
  const fs::path temp = fs::path(checkpoints) / ("." + name + ".tmp." + std::to_string(::getpid()));
  make_directories(checkpoints);
  core::remove_tree(temp.string());
  std::error_code error;
  KILN_CHECK(fs::create_directory(temp, error) && !error, OutputError, "cannot create '",
             temp.string(), "': ", error.message());
  try {
    json manifest = {{"format", kCheckpointFormat},
                     {"version", kCheckpointVersion},
                     {"kiln_version", core::build_info().version},
                     {"git_revision", core::build_info().git_revision},
                     {"created", core::utc_timestamp()},
                     {"step", contents.step},
                     {"data_fingerprint", contents.data_fingerprint},
                     {"parent", contents.parent.empty() ? json(nullptr) : json(contents.parent)},
                     {"metrics", contents.metrics},
                     {"files", json::object()}};
    // The hashes are computed on other threads while the files are written and fsynced.
    std::vector<std::future<std::string>> hashes;
    for (const auto& [file, bytes] : contents.files) {
      KILN_ASSERT(is_plain_name(file) && file != kManifest, "bad checkpoint file name ", file);
      hashes.push_back(
          std::async(std::launch::async, [&bytes = bytes] { return core::sha256_hex(bytes); }));
    }
    std::size_t i = 0;
    for (const auto& [file, bytes] : contents.files) {
      core::atomic_write((temp / file).string(), bytes);
      manifest["files"][file] = {{"bytes", bytes.size()}, {"sha256", hashes[i++].get()}};
    }
    core::atomic_write((temp / kManifest).string(), manifest.dump(1) + "\n");
    // A rewrite of the same step (a resumed run passing it again): the old directory moves
    // aside first, as a temporary that retention removes, because rename(2) does not
    // replace a non-empty directory.
    const fs::path old =
        fs::path(checkpoints) / ("." + name + ".tmp.old." + std::to_string(::getpid()));
    if (fs::exists(final_path)) {
      core::remove_tree(old.string());
      KILN_CHECK(std::rename(final_path.c_str(), old.c_str()) == 0, OutputError, "cannot move '",
                 final_path.string(), "' aside: ", errno_text(errno));
    }
    KILN_CHECK(std::rename(temp.c_str(), final_path.c_str()) == 0, OutputError, "cannot rename '",
               temp.string(), "' to '", final_path.string(), "': ", errno_text(errno));
    core::fsync_directory(checkpoints);
    core::remove_tree(old.string());
  } catch (...) {
    core::remove_tree(temp.string());
    throw;
  }
  core::atomic_write((fs::path(checkpoints) / "latest").string(), name + "\n");
  if (best) core::atomic_write((fs::path(checkpoints) / "best").string(), name + "\n");
  return final_path.string();
}

std::string checkpoints_of(const std::string& path) {
  const fs::path inside = fs::path(path) / "checkpoints";
  return fs::exists(inside) ? inside.string() : path;
}

std::optional<std::string> read_pointer(const std::string& checkpoints,
                                        const std::string& pointer) {
  const fs::path path = fs::path(checkpoints) / pointer;
  if (!fs::exists(path)) return std::nullopt;
  std::string name = core::read_file(path.string(), "checkpoint pointer");
  while (!name.empty() && (name.back() == '\n' || name.back() == ' '))
    name.pop_back();
  KILN_CHECK(is_checkpoint_name(name), DataError, path.string(),
             ": does not name a checkpoint (step_NNNNNNNN)");
  return (fs::path(checkpoints) / name).string();
}

std::string model_checkpoint(const std::string& path) {
  if (fs::exists(fs::path(path) / "MANIFEST.json") || !fs::is_directory(path)) return path;
  // A run refitted on train and valid (train.refit): the refit's, once it is complete.
  const fs::path refit = fs::path(path) / "refit" / "checkpoints";
  if (fs::is_directory(refit))
    if (auto best = read_pointer(refit.string(), "best")) return *best;
  return read_pointer(checkpoints_of(path), "best").value_or(path);
}

VerifiedCheckpoint verify_checkpoint(const std::string& path, bool hashes) {
  KILN_CHECK(fs::exists(path), InputError, "no checkpoint at '", path, "'");
  fs::path dir = path;
  if (!fs::exists(dir / kManifest)) {  // a run directory, or its checkpoints/
    auto latest = read_pointer(checkpoints_of(path), "latest");
    KILN_CHECK(
        latest.has_value(), InputError, "'", path,
        "' is neither a checkpoint (no MANIFEST.json) nor a directory with checkpoints/latest");
    dir = *latest;
  }
  const std::string manifest_path = (dir / kManifest).string();
  json manifest =
      json::parse(core::read_file(manifest_path, "checkpoint manifest"), nullptr, false);
  KILN_CHECK(manifest.is_object(), DataError, manifest_path, ": not a JSON object");
  KILN_CHECK(manifest.value("format", "") == kCheckpointFormat, DataError, manifest_path,
             ": format is not '", kCheckpointFormat, "'");
  KILN_CHECK(manifest.contains("version") && manifest["version"].is_number_integer(), DataError,
             manifest_path, ": no integer version");
  int version = manifest["version"].get<int>();
  KILN_CHECK(version <= kCheckpointVersion, DataError, manifest_path, ": format version ", version,
             " is newer than this Kiln reads (", kCheckpointVersion, "); upgrade Kiln");
  KILN_CHECK(manifest.contains("step") && manifest["step"].is_number_integer(), DataError,
             manifest_path, ": no integer step");
  KILN_CHECK(manifest.contains("files") && manifest["files"].is_object(), DataError, manifest_path,
             ": no files object");
  std::vector<std::pair<fs::path, std::string>> to_hash;  // file, the manifest's SHA-256
  for (const auto& [file, entry] : manifest["files"].items()) {
    KILN_CHECK(is_plain_name(file) && file != kManifest, DataError, manifest_path, ": file name '",
               file, "' is not a plain name");
    KILN_CHECK(entry.is_object() && entry.contains("bytes") &&
                   entry["bytes"].is_number_unsigned() && entry.contains("sha256") &&
                   entry["sha256"].is_string(),
               DataError, manifest_path, ": entry of '", file, "' lacks bytes or sha256");
    const fs::path file_path = dir / file;
    KILN_CHECK(fs::is_regular_file(file_path), DataError, file_path.string(),
               ": listed in the manifest but missing");
    std::error_code error;
    const auto size = fs::file_size(file_path, error);
    KILN_CHECK(!error && size == entry["bytes"].get<uint64_t>(), DataError, file_path.string(),
               ": ", size, " bytes, the manifest says ", entry["bytes"].get<uint64_t>());
    if (file_path.extension() == ".safetensors") core::check_safetensors_file(file_path.string());
    to_hash.emplace_back(file_path, entry["sha256"].get<std::string>());
  }
  if (hashes) {  // the files at once, each large one on its own thread
    std::vector<std::future<std::string>> digests;
    for (const auto& [file, expected] : to_hash) {
      const bool large = fs::file_size(file) >= (std::uintmax_t{1} << 20);
      digests.push_back(std::async(large ? std::launch::async : std::launch::deferred,
                                   [&file = file] { return core::sha256_file(file.string()); }));
    }
    for (std::size_t i = 0; i < to_hash.size(); ++i)
      KILN_CHECK(digests[i].get() == to_hash[i].second, DataError, to_hash[i].first.string(),
                 ": SHA-256 differs from the manifest's");
  }
  return {dir.string(), manifest, manifest["step"].get<int64_t>()};
}

std::vector<RunCheckpoint> verify_run_checkpoints(const std::string& path) {
  std::vector<RunCheckpoint> out{{"", verify_checkpoint(path)}};
  if (fs::exists(fs::path(path) / kManifest)) return out;  // a checkpoint itself
  out[0].roles = "latest";
  const auto add = [&out](const std::string& role, const std::string& checkpoint) {
    for (auto& known : out)
      if (fs::equivalent(known.checkpoint.path, checkpoint)) {
        known.roles += ", " + role;
        return;
      }
    out.push_back({role, verify_checkpoint(checkpoint)});
  };
  if (auto best = read_pointer(checkpoints_of(path), "best")) add("best", *best);
  const std::string model = model_checkpoint(path);
  if (fs::exists(fs::path(model) / kManifest)) add("model", model);
  return out;
}

std::vector<std::string> list_checkpoints(const std::string& checkpoints) {
  std::vector<std::string> out;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(checkpoints, error)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && is_checkpoint_name(name)) out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<VerifiedCheckpoint> newest_good_checkpoint(const std::string& checkpoints,
                                                         std::vector<std::string>* skipped) {
  auto all = list_checkpoints(checkpoints);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      return verify_checkpoint(*it);
    } catch (const Error& e) {
      if (skipped != nullptr) skipped->push_back(e.what());
    }
  }
  return std::nullopt;
}

void apply_retention(const std::string& checkpoints, int64_t keep_last) {
  auto all = list_checkpoints(checkpoints);
  std::optional<std::string> best;
  try {
    best = read_pointer(checkpoints, "best");
  } catch (const DataError&) {
    best.reset();
  }
  std::error_code error;
  const auto keep_from = static_cast<int64_t>(all.size()) - keep_last;
  for (int64_t i = 0; i < keep_from; ++i) {
    const auto& path = all[static_cast<std::size_t>(i)];
    if (best && fs::equivalent(path, *best, error)) continue;
    core::remove_tree(path);
  }
  remove_leftovers(checkpoints);
}

void remove_leftovers(const std::string& checkpoints) {
  std::error_code error;
  std::vector<std::string> leftovers;
  for (const auto& entry : fs::directory_iterator(checkpoints, error)) {
    const std::string name = entry.path().filename().string();
    const bool ours = name.rfind(".step_", 0) == 0 || name.rfind(".latest.", 0) == 0 ||
                      name.rfind(".best.", 0) == 0;
    if (ours && name.find(".tmp.") != std::string::npos) leftovers.push_back(entry.path().string());
  }
  for (const std::string& path : leftovers)
    core::remove_tree(path);
}

nlohmann::ordered_json CheckpointInfo::to_json() const {
  return {{"path", path},
          {"latest", latest},
          {"best", best},
          {"model", model},
          {"bytes", bytes},
          {"step", step ? nlohmann::ordered_json(*step) : nlohmann::ordered_json(nullptr)},
          {"metrics", metrics}};
}

std::vector<CheckpointInfo> checkpoint_infos(const std::string& run) {
  const std::string dir = checkpoints_of(run);
  KILN_CHECK(fs::is_directory(dir), InputError, "no checkpoints directory at '", run, "'");
  const std::string latest = read_pointer(dir, "latest").value_or("");
  const std::string best = read_pointer(dir, "best").value_or("");
  const std::string model = model_checkpoint(run);
  auto info_of = [&](const std::string& path) {
    CheckpointInfo info;
    info.path = path;
    info.latest = path == latest;
    info.best = path == best;
    info.model = path == model;
    std::error_code error;
    for (const auto& f : fs::directory_iterator(path, error))
      info.bytes += f.is_regular_file() ? f.file_size() : 0;
    std::ifstream file(fs::path(path) / "MANIFEST.json");
    const auto manifest = nlohmann::ordered_json::parse(file, nullptr, false);
    if (manifest.is_object()) {
      if (manifest.contains("step") && manifest["step"].is_number_integer())
        info.step = manifest["step"].get<int64_t>();
      if (manifest.contains("metrics") && manifest["metrics"].is_object())
        info.metrics = manifest["metrics"];
    }
    return info;
  };
  std::vector<CheckpointInfo> out;
  for (const auto& path : list_checkpoints(dir))
    out.push_back(info_of(path));
  // The model of a refitted run is the refit's checkpoint, outside checkpoints/: last.
  const bool listed =
      std::any_of(out.begin(), out.end(), [](const CheckpointInfo& c) { return c.model; });
  if (!listed && fs::exists(fs::path(model) / kManifest)) out.push_back(info_of(model));
  return out;
}

}  // namespace kiln::core
