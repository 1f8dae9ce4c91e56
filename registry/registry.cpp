#include "registry/registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/build_info.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/event_log.h"
#include "core/files.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/topology.h"

namespace kiln::registry {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr const char* kCard = "version.json";
constexpr const char* kCardFormat = "kiln.model_version";
constexpr const char* kReportFiles[] = {"report.json", "report.md", "report.html"};

// Where the crash tests kill a register (tests/registry): SIGKILL to this process when
// $KILN_TEST_KILL_AT names the point. A real kill at a point a timer would rarely hit.
void kill_point(const char* point) {
  const char* at = std::getenv("KILN_TEST_KILL_AT");
  if (at != nullptr && std::strcmp(at, point) == 0) ::kill(::getpid(), SIGKILL);
}

std::string version_name(int64_t v) {
  return "v" + std::to_string(v);
}

// Writes a new file and fsyncs it (no rename: it is in a staging directory).
void write_new_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  KILN_CHECK(fd >= 0, OutputError, "cannot create '", path, "': ", errno_text(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  KILN_CHECK(ok, OutputError, "cannot write '", path, "': ", errno_text(err));
}

void make_dirs(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  KILN_CHECK(!error, OutputError, "cannot create '", dir.string(), "': ", error.message());
}

std::string random_id() {
  std::random_device random;
  char text[16];
  std::snprintf(text, sizeof text, "%08x", random());
  return text;
}

// Makes every file under `dir` read-only and the directories unwritable (0444 / 0555), or
// writable again (to remove a leftover) with `writable`.
void set_modes(const fs::path& dir, bool writable) {
  std::error_code error;
  for (const auto& entry : fs::recursive_directory_iterator(dir, error)) {
    const bool is_dir = entry.is_directory();
    ::chmod(entry.path().c_str(), is_dir ? (writable ? 0755 : 0555) : (writable ? 0644 : 0444));
  }
  ::chmod(dir.c_str(), writable ? 0755 : 0555);
}

void remove_leftover(const fs::path& dir) {
  set_modes(dir, true);
  core::remove_tree(dir.string());
}

// The json in `path`, an object, or DataError naming it.
ojson read_json_object(const std::string& path, const char* what) {
  ojson value = ojson::parse(core::read_file(path, what), nullptr, false);
  KILN_CHECK(value.is_object(), DataError, path, ": not a JSON object (", what, ")");
  return value;
}

// A directory being made under NAME/.staging/ (a version, a report), with a lock its maker
// holds meanwhile, so that another writer knows a staging directory whose lock it can take
// is a dead maker's leftover. Whatever is left of it goes when it goes out of scope.
class Staging {
 public:
  explicit Staging(const fs::path& model)
      : dir_(new_path(model)), lock_(core::FileLock::acquire(dir_.string() + ".lock")) {
    make_dirs(dir_);  // after the lock: a cleaner that took the lock first found nothing
  }
  ~Staging() {
    if (fs::exists(dir_)) remove_leftover(dir_);
    ::unlink((dir_.string() + ".lock").c_str());
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const fs::path& dir() const { return dir_; }

  // Makes it read-only and renames it to `target`, fsyncing both directories: from here on
  // it is visible, and immutable.
  void publish(const fs::path& target) {
    set_modes(dir_, false);
    core::fsync_directory(dir_.string());
    KILN_CHECK(::rename(dir_.c_str(), target.c_str()) == 0, OutputError, "cannot rename '",
               dir_.string(), "' to '", target.string(), "': ", errno_text(errno));
    core::fsync_directory(target.parent_path().string());
  }

 private:
  static fs::path new_path(const fs::path& model) {
    make_dirs(model / ".staging");
    return model / ".staging" / (std::to_string(::getpid()) + "-" + random_id());
  }

  fs::path dir_;
  core::FileLock lock_;
};

// Removes the staging directories of dead registers (their locks are free).
void remove_dead_staging(const fs::path& model) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(model / ".staging", error)) {
    const fs::path p = entry.path();
    if (p.extension() != ".lock") continue;
    core::FileLock lock = core::FileLock::try_acquire(p.string());
    if (!lock.held()) continue;  // its register is alive
    fs::path dir = p;
    dir.replace_extension();
    if (fs::exists(dir)) remove_leftover(dir);
    ::unlink(p.c_str());
  }
}

// Puts the checkpoint `from` (its manifest read) into `to` and verifies what is there
// against its MANIFEST.json: hard links (unless `copy`, or the file system refuses them),
// whose bytes are then hashed; or copies, hashed as they are made. Each file's bytes are
// read once. Returns the staged checkpoint; `linked` says whether its files are links.
core::VerifiedCheckpoint stage_checkpoint(const core::VerifiedCheckpoint& from, const fs::path& to,
                                          bool copy, bool& linked) {
  std::vector<std::string> files{"MANIFEST.json"};
  for (const auto& [name, entry] : from.manifest["files"].items())
    files.push_back(name);
  linked = !copy;
  for (const auto& name : files) {
    const std::string src = (fs::path(from.path) / name).string();
    const std::string dst = (to / name).string();
    if (linked && ::link(src.c_str(), dst.c_str()) == 0) continue;
    if (linked && errno != EXDEV && errno != EPERM && errno != EMLINK && errno != ENOTSUP)
      throw OutputError("cannot link '" + src + "' to '" + dst + "': " + errno_text(errno));
    if (linked) {  // the links made so far become copies too: one kind per version
      core::remove_tree(to.string());
      make_dirs(to);
      return stage_checkpoint(from, to, true, linked);
    }
    const std::string copied = core::copy_file(src, dst);
    KILN_CHECK(name == "MANIFEST.json" ||
                   copied == from.manifest["files"][name]["sha256"].get<std::string>(),
               DataError, src, ": SHA-256 differs from the manifest's");
  }
  // Links: the manifest's hashes, of the bytes the registry now holds. Copies were hashed.
  return core::verify_checkpoint(to.string(), linked);
}

// `kiln eval` report directories, copied to `to`/evals/<k>/; their files' SHA-256 for the card.
ojson stage_evals(const std::vector<std::string>& evals, const fs::path& to) {
  ojson out = ojson::array();
  for (std::size_t k = 0; k < evals.size(); ++k) {
    const fs::path from = evals[k];
    const ojson report = read_json_object((from / "report.json").string(), "eval report");
    const fs::path dir = to / "evals" / std::to_string(k);
    make_dirs(dir);
    ojson files = ojson::object();
    for (const char* name : kReportFiles)
      if (fs::exists(from / name))
        files[name] = core::copy_file((from / name).string(), (dir / name).string());
    out.push_back({{"path", "evals/" + std::to_string(k)},
                   {"source", fs::absolute(from).string()},
                   {"metrics", report.value("metrics", ojson::object())},
                   {"files", files}});
  }
  return out;
}

// The registry version a checkpoint was resumed or fine-tuned from (kiln fit --init), when
// its run says so ("NAME/vN").
json parent_of(const ojson& run) {
  if (run.contains("resumed_from_registry") && run["resumed_from_registry"].is_object())
    return run["resumed_from_registry"].value("version_ref", json(nullptr));
  if (run.contains("initialized_from") && run["initialized_from"].is_object() &&
      run["initialized_from"].contains("registry") &&
      run["initialized_from"]["registry"].is_object())
    return run["initialized_from"]["registry"].value("version_ref", json(nullptr));
  return nullptr;
}

// The model card without its version number (added under the lock).
ojson make_card(const std::string& name, const core::VerifiedCheckpoint& checkpoint,
                const std::string& source, const RegisterOptions& options, bool linked,
                const ojson& evals) {
  const fs::path ckpt = fs::absolute(source);
  const fs::path run_dir = ckpt.parent_path().parent_path();
  ojson run = ojson::object();
  if (fs::exists(run_dir / "run.json"))
    run = read_json_object((run_dir / "run.json").string(), "run.json");
  const json& m = checkpoint.manifest;
  ojson card = {{"format", kCardFormat},
                {"format_version", 1},
                {"name", name},
                {"version", nullptr},
                {"created", core::utc_timestamp()},
                {"created_by", core::user_name() + "@" + core::host_name()},
                {"source",
                 {{"run", run.empty() ? json(nullptr) : json(run_dir.string())},
                  {"checkpoint", ckpt.string()},
                  {"step", checkpoint.step},
                  {"files", linked ? "hard links" : "copies"}}}};
  const fs::path config = fs::path(checkpoint.path) / "config.yaml";  // the verified copy's
  card["config"] = fs::exists(config) ? core::yaml_to_json(core::load_config_file(config.string()))
                                      : json(nullptr);
  ojson data = ojson::object();
  for (const char* split : {"train", "valid"})
    if (run.contains(split)) data[split] = run[split];
  if (data.empty()) data["train"] = {{"fingerprint", m.value("data_fingerprint", json(""))}};
  card["data"] = data;
  card["transform_sha256"] = m["files"].contains("transform.json")
                                 ? m["files"]["transform.json"]["sha256"]
                                 : json(nullptr);
  card["kiln_version"] = m.value("kiln_version", json(""));
  card["git_revision"] = m.value("git_revision", json(""));
  card["registered_with"] = {{"kiln_version", core::build_info().version},
                             {"git_revision", core::build_info().git_revision}};
  card["metrics"] = m.value("metrics", json::object());
  card["evals"] = evals;
  card["tags"] = options.tags;
  card["parent"] = parent_of(run);
  return card;
}

// Checks a version's card (the text of `path`): it parses, names this model and version,
// and (when the journal is given) has the SHA-256 its register event records.
ojson parse_card(const std::string& path, const std::string& text, const std::string& name,
                 int64_t version, const std::string& sha256 = "") {
  KILN_CHECK(sha256.empty() || core::sha256_hex(text) == sha256, DataError, path,
             ": SHA-256 differs from the one its register event records");
  ojson card = ojson::parse(text, nullptr, false);
  KILN_CHECK(card.is_object() && card.value("format", ojson("")) == kCardFormat, DataError, path,
             ": not a model card (format ", kCardFormat, ")");
  KILN_CHECK(
      card.value("name", ojson("")) == name && card.value("version", ojson(0)) == ojson(version),
      DataError, path, ": the card is of ", card.value("name", ojson("?")).dump(), "/v",
      card.value("version", ojson(0)).dump(), ", not ", name, "/v", version);
  return card;
}

ojson read_card(const std::string& dir, const std::string& name, int64_t version,
                const std::string& sha256 = "") {
  const std::string path = (fs::path(dir) / kCard).string();
  return parse_card(path, core::read_file(path, "model card"), name, version, sha256);
}

std::string alias_file(const fs::path& model, const std::string& alias) {
  return (model / "aliases" / (alias + ".json")).string();
}

// Makes every alias file say what the journal says (repairs a writer killed between its
// journal line and the alias file). Under the journal's lock.
void sync_alias_files(const fs::path& model, const std::string& name, const ModelState& state) {
  make_dirs(model / "aliases");
  for (const auto& [alias, held] : state.aliases) {
    const std::string path = alias_file(model, alias);
    if (held.empty()) {
      if (fs::exists(path)) ::unlink(path.c_str());
      continue;
    }
    const double since = state.alias_since.at(alias);
    const std::string text = ojson{{"name", name},
                                   {"alias", alias},
                                   {"version", held.back()},
                                   {"since", core::utc_timestamp(since)}}
                                 .dump() +
                             "\n";
    std::string old;
    if (fs::exists(path)) old = core::read_file(path, "alias file");
    if (old != text) core::atomic_write(path, text);
  }
}

ojson who() {
  return {{"user", core::user_name()}, {"host", core::host_name()}};
}

json alias_event(const std::string& alias, int64_t version, int64_t from, const std::string& how) {
  json e = {{"event", "alias"}, {"alias", alias}, {"how", how}};
  if (version > 0) e["version"] = version;
  e["from"] = from == 0 ? json(nullptr) : json(from);
  e.update(json(who()));
  return e;
}

void check_expect(const std::string& name, const std::string& alias, std::optional<int64_t> expect,
                  const ModelState& state) {
  const int64_t now = state.alias(alias).value_or(0);
  KILN_CHECK(!expect || *expect == now, ConflictError, name, "@", alias, " holds ",
             now == 0 ? "nothing" : version_name(now), ", not ",
             *expect == 0 ? "nothing" : version_name(*expect), " as --expect says; nothing moved");
}

// The events that record the versions a killed register renamed into place but did not
// record (its kill came between the rename and the journal line), with their cards' tags
// and source, so that what finds a version by its tags (a pipeline's register step) finds
// it. Under the journal's lock.
std::vector<json> unrecorded_versions(const fs::path& model, const std::string& name,
                                      const ModelState& state) {
  remove_dead_staging(model);
  std::vector<json> events;
  for (int64_t next = state.last_version + 1; fs::exists(model / "versions" / version_name(next));
       ++next) {
    const std::string dir = (model / "versions" / version_name(next)).string();
    const std::string path = (fs::path(dir) / kCard).string();
    const std::string text = core::read_file(path, "model card");
    const ojson card = parse_card(path, text, name, next);
    const ojson tags = card.value("tags", ojson::object());
    KILN_CHECK(tags.is_object(), DataError, path, ": 'tags' must be an object");
    core::log_warn(dir + ": recording a version whose register was killed after it was made");
    json e = {{"event", "register"},
              {"version", next},
              {"card_sha256", core::sha256_hex(text)},
              {"tags", json::parse(tags.dump())},
              {"recovered", true}};
    if (card.contains("source") && card["source"].is_object() &&
        card["source"].contains("checkpoint"))
      e["source"] = json::parse(card["source"]["checkpoint"].dump());
    e.update(json(who()));
    events.push_back(std::move(e));
  }
  return events;
}

}  // namespace

std::string Resolved::text() const {
  const std::string v = ref.name + "/" + version_name(version);
  return ref.alias.empty() ? v : v + " (" + ref.alias + " at " + at + ")";
}

ojson Resolved::to_json() const {
  return {{"ref", "registry:" + ref.text()},
          {"text", text()},
          {"name", ref.name},
          {"version", version},
          {"version_ref", ref.name + "/" + version_name(version)},
          {"alias", ref.alias.empty() ? json(nullptr) : json(ref.alias)},
          {"at", at},
          {"path", path}};
}

ModelSource resolve_model(const std::string& text, const std::string& registry_flag) {
  if (!is_ref(text)) return {text, std::nullopt};
  Resolved r = Registry(registry_dir(registry_flag)).resolve(parse_ref(text));
  std::string path = r.path;
  return {std::move(path), std::move(r)};
}

Registry::Registry(std::string dir) : dir_(std::move(dir)) {}

std::string Registry::model_dir(const std::string& name) const {
  check_name(name, "model name");
  return (fs::path(dir_) / name).string();
}

std::string Registry::journal_file(const std::string& name) const {
  const std::string journal = (fs::path(model_dir(name)) / "journal.jsonl").string();
  KILN_CHECK(fs::exists(journal), InputError, "no model '", name, "' in the registry '", dir_, "'");
  return journal;
}

std::string Registry::version_dir(const std::string& name, int64_t version) const {
  return (fs::path(model_dir(name)) / "versions" / version_name(version)).string();
}

std::string Registry::report_dir(const std::string& name, const std::string& id) const {
  return (fs::path(model_dir(name)) / "reports" / id).string();
}

struct Registry::Journal {
  core::EventLog log;
  ModelState state;
};

Registry::~Registry() = default;
Registry::Registry(Registry&&) noexcept = default;
Registry& Registry::operator=(Registry&&) noexcept = default;

const ModelState& Registry::transact(
    const std::string& name, const std::function<std::vector<json>(const ModelState&)>& decide,
    bool create) {
  const fs::path model = model_dir(name);
  auto& journal = journals_[name];
  if (!journal) {
    if (create)
      make_dirs(model);
    else
      journal_file(name);  // the model must be there
    journal.reset(new Journal{
        core::EventLog((model / "journal.jsonl").string(), (model / "journal.lock").string(), true),
        {}});
  }
  ModelState& state = journal->state;
  try {
    // The alias files are rewritten under the journal's lock, before (a crash's repair) and
    // after the append: written after the lock, an older move's files could land last.
    journal->log.transact([&](const json& e, const std::string& where) { state.apply(e, where); },
                          [&] {
                            sync_alias_files(model, name, state);
                            return decide(state);
                          },
                          [&] { state = {}; },
                          [&] {
                            kill_point("appended");
                            sync_alias_files(model, name, state);
                          });
  } catch (...) {
    journals_.erase(name);  // replay afresh next time
    throw;
  }
  return journals_[name]->state;
}

Registered Registry::register_version(const RegisterOptions& o) {
  const fs::path model = model_dir(o.name);
  for (const auto& a : o.aliases)
    check_alias(a);
  for (const auto& [k, v] : o.tags)
    check_name(k, "tag key");
  const core::VerifiedCheckpoint source =
      core::verify_checkpoint(core::model_checkpoint(o.source), false);
  make_dirs(model / "versions");
  Staging staging(model);
  const fs::path& stage = staging.dir();
  Registered out;
  {
    const core::VerifiedCheckpoint staged = stage_checkpoint(source, stage, o.copy, out.linked);
    const ojson evals = stage_evals(o.evals, stage);
    kill_point("staged");
    ojson card = make_card(o.name, staged, source.path, o, out.linked, evals);
    transact(
        o.name,
        [&](const ModelState& state) {
          std::vector<json> events = unrecorded_versions(model, o.name, state);
          const int64_t next = state.last_version + static_cast<int64_t>(events.size()) + 1;
          card["version"] = next;
          const std::string text = card.dump(1) + "\n";
          write_new_file((stage / kCard).string(), text);  // the rename below publishes it
          kill_point("card");
          out.path = (model / "versions" / version_name(next)).string();
          staging.publish(out.path);
          kill_point("renamed");
          json e = {{"event", "register"},
                    {"version", next},
                    {"card_sha256", core::sha256_hex(text)},
                    {"source", card["source"]["checkpoint"]},
                    {"tags", o.tags}};
          e.update(json(who()));
          events.push_back(std::move(e));
          for (const auto& a : o.aliases)
            events.push_back(alias_event(a, next, state.alias(a).value_or(0), "register"));
          out.version = next;
          out.card = card;
          return events;
        },
        true);
  }
  return out;
}

const ModelState& Registry::recover(const std::string& name) {
  const fs::path model = model_dir(name);
  return transact(name,
                  [&](const ModelState& state) { return unrecorded_versions(model, name, state); });
}

Resolved Registry::resolve(const Ref& ref) const {
  journal_file(ref.name);  // the model must be there
  const fs::path model = model_dir(ref.name);
  Resolved r;
  r.ref = ref;
  r.at = core::utc_timestamp();
  r.version = ref.version;
  if (r.version == 0) {
    check_alias(ref.alias);  // never a path
    const std::string path = alias_file(model, ref.alias);
    KILN_CHECK(fs::exists(path), InputError, "no alias '", ref.alias, "' on model '", ref.name,
               "' (no ", path, "); see kiln registry show ", ref.name);
    const ojson a = read_json_object(path, "alias file");
    KILN_CHECK(a.contains("version") && a["version"].is_number_integer() &&
                   a["version"].get<int64_t>() > 0 && a.value("alias", ojson("")) == ref.alias,
               DataError, path, ": not an alias file of ", ref.text(), " (version, alias)");
    r.version = a["version"].get<int64_t>();
  }
  r.path = version_dir(ref.name, r.version);
  KILN_CHECK(fs::exists(fs::path(r.path) / kCard), InputError, "no version ", ref.name, "/",
             version_name(r.version), " in the registry '", dir_, "'");
  read_card(r.path, ref.name, r.version);
  return r;
}

ModelState Registry::state(const std::string& name) const {
  ModelState state;
  core::EventLog::replay(journal_file(name),
                         [&](const json& e, const std::string& where) { state.apply(e, where); });
  return state;
}

std::vector<std::string> Registry::models() const {
  KILN_CHECK(fs::is_directory(dir_), InputError, "no registry at '", dir_,
             "' (--registry DIR, else $KILN_REGISTRY, else ./registry)");
  std::vector<std::string> out;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir_, error))
    if (fs::exists(entry.path() / "journal.jsonl")) out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

ojson Registry::card(const std::string& name, int64_t version) const {
  const ModelState s = state(name);
  const VersionState* v = s.find(version);
  KILN_CHECK(v != nullptr, InputError, "no version ", name, "/", version_name(version),
             " in the registry '", dir_, "'");
  return read_card(version_dir(name, version), name, version, v->card_sha256);
}

AliasMove Registry::move_alias(const MoveOptions& o) {
  check_alias(o.alias);
  const ModelState& after = transact(o.name, [&](const ModelState& state) {
    const VersionState* v = state.find(o.version);
    KILN_CHECK(v != nullptr, UsageError, "no version ", o.name, "/", version_name(o.version));
    KILN_CHECK(!v->archived, UsageError, o.name, "/", version_name(o.version),
               " is archived; an alias cannot point to it");
    check_expect(o.name, o.alias, o.expect, state);
    json e = alias_event(o.alias, o.version, state.alias(o.alias).value_or(0), o.how);
    if (o.forced) e["forced"] = true;
    if (!o.report.empty()) e["report"] = o.report;
    return std::vector<json>{e};
  });
  return after.moves.back();
}

AliasMove Registry::rollback(const std::string& name, const std::string& alias,
                             std::optional<int64_t> expect) {
  check_alias(alias);
  const ModelState& after = transact(name, [&](const ModelState& state) {
    const auto it = state.aliases.find(alias);
    KILN_CHECK(it != state.aliases.end() && !it->second.empty(), InputError, "no alias '", alias,
               "' on model '", name, "'");
    KILN_CHECK(it->second.size() >= 2, UsageError, name, "@", alias, " holds ",
               version_name(it->second.back()),
               " and held nothing before it: nothing to roll back to");
    check_expect(name, alias, expect, state);
    return std::vector<json>{
        alias_event(alias, it->second[it->second.size() - 2], it->second.back(), "rollback")};
  });
  return after.moves.back();
}

AliasMove Registry::remove_alias(const std::string& name, const std::string& alias,
                                 std::optional<int64_t> expect) {
  check_alias(alias);
  const ModelState& after = transact(name, [&](const ModelState& state) {
    const auto now = state.alias(alias);
    KILN_CHECK(now.has_value(), InputError, "no alias '", alias, "' on model '", name, "'");
    check_expect(name, alias, expect, state);
    return std::vector<json>{alias_event(alias, 0, *now, "remove")};
  });
  return after.moves.back();
}

void Registry::tag(const std::string& name, int64_t version,
                   const std::map<std::string, std::string>& set,
                   const std::vector<std::string>& unset) {
  for (const auto& [k, v] : set)
    check_name(k, "tag key");
  transact(name, [&](const ModelState& state) {
    KILN_CHECK(state.find(version) != nullptr, InputError, "no version ", name, "/",
               version_name(version));
    json e = {{"event", "tag"}, {"version", version}, {"set", set}, {"unset", unset}};
    e.update(json(who()));
    return std::vector<json>{e};
  });
}

void Registry::archive(const std::string& name, int64_t version) {
  transact(name, [&](const ModelState& state) {
    KILN_CHECK(state.find(version) != nullptr, InputError, "no version ", name, "/",
               version_name(version));
    const auto held = state.aliases_of(version);
    KILN_CHECK(held.empty(), UsageError, name, "/", version_name(version), " is held by alias '",
               held.empty() ? "" : held.front(), "'; move or remove the alias first");
    json e = {{"event", "archive"}, {"version", version}};
    e.update(json(who()));
    return std::vector<json>{e};
  });
}

std::string Registry::attach_report(const std::string& name, int64_t version,
                                    const std::string& report) {
  const fs::path model = model_dir(name);
  KILN_CHECK(state(name).find(version) != nullptr, InputError, "no version ", name, "/",
             version_name(version));
  const std::string id =
      core::utc_timestamp().substr(0, 10) + "-" + version_name(version) + "-" + random_id();
  Staging staging(model);
  for (const char* file : kReportFiles)
    if (fs::exists(fs::path(report) / file))
      core::copy_file((fs::path(report) / file).string(), (staging.dir() / file).string());
  make_dirs(model / "reports");
  staging.publish(report_dir(name, id));
  transact(name, [&](const ModelState&) {
    json e = {{"event", "attach"}, {"version", version}, {"report", id}};
    e.update(json(who()));
    return std::vector<json>{e};
  });
  return id;
}

std::vector<std::string> Registry::verify(const std::string& name, int64_t version) const {
  std::vector<std::string> problems;
  const fs::path model = model_dir(name);
  ModelState s;
  try {
    s = state(name);
  } catch (const DataError& e) {
    return {e.what()};
  }
  KILN_CHECK(version == 0 || s.find(version) != nullptr, InputError, "no version ", name, "/",
             version_name(version));
  for (const auto& [v, info] : s.versions) {
    if (version != 0 && v != version) continue;
    const std::string dir = version_dir(name, v);
    try {
      const ojson card = read_card(dir, name, v, info.card_sha256);
      core::verify_checkpoint(dir);
      const ojson evals = card.value("evals", ojson::array());
      for (const auto& eval : evals) {
        const std::string card_path = (fs::path(dir) / kCard).string();
        KILN_CHECK(eval.is_object() && eval.value("path", ojson()).is_string() &&
                       eval.value("files", ojson()).is_object(),
                   DataError, card_path, ": an entry of 'evals' lacks its path or files");
        const std::string at = eval["path"].get<std::string>();
        KILN_CHECK(at.rfind("evals/", 0) == 0 && at.find("..") == std::string::npos, DataError,
                   card_path, ": eval path '", at, "' is not under evals/");
        for (const auto& [file, sha] : eval["files"].items()) {
          const std::string path = (fs::path(dir) / at / file).string();
          KILN_CHECK(sha.is_string() && file.find('/') == std::string::npos &&
                         core::sha256_file(path) == sha.get<std::string>(),
                     DataError, path, ": SHA-256 differs from the card's");
        }
      }
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  for (const auto& [alias, held] : s.aliases) {
    if (held.empty()) continue;
    const std::string path = alias_file(model, alias);
    try {
      const ojson a = read_json_object(path, "alias file");
      KILN_CHECK(a.value("version", ojson(0)) == ojson(held.back()), DataError, path, ": says ",
                 a.value("version", ojson(0)).dump(), ", the journal says ", held.back(),
                 " (the next registry write repairs it)");
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  return problems;
}

}  // namespace kiln::registry
