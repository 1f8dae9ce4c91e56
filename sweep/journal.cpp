#include "sweep/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"

namespace kiln::sweep {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string text(const json& e, const char* key, const std::string& where) {
  KILN_CHECK(e.contains(key) && e[key].is_string(), DataError, where, ": '", key,
             "' must be a string");
  return e[key].get<std::string>();
}

int64_t integer(const json& e, const char* key, const std::string& where, int64_t lo = 0,
                int64_t hi = INT64_MAX) {
  KILN_CHECK(e.contains(key) && e[key].is_number_integer(), DataError, where, ": '", key,
             "' must be an integer");
  const int64_t v = e[key].get<int64_t>();
  KILN_CHECK(v >= lo && v <= hi, DataError, where, ": '", key, "' is ", v, ", expected ", lo,
             " to ", hi);
  return v;
}

double real(const json& e, const char* key, const std::string& where) {
  KILN_CHECK(e.contains(key) && e[key].is_number(), DataError, where, ": '", key,
             "' must be a number");
  return e[key].get<double>();
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string journal_path(const std::string& dir) {
  return (fs::path(dir) / "journal.jsonl").string();
}

// The events as journal lines, each stamped with "t": `now`.
std::string journal_lines(std::vector<json> events, double now) {
  std::string out;
  for (json& e : events) {
    e["t"] = now;
    out += e.dump() + "\n";
  }
  return out;
}

// Replays the complete lines of `bytes` (read from `offset`) into `state`; returns how
// many bytes they span (a torn last line is left out).
int64_t replay(SweepState& state, const std::string& bytes, const std::string& path) {
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = bytes.find('\n', begin);
    if (end == std::string::npos) break;
    ++state.lines;
    const std::string where = path + " line " + std::to_string(state.lines);
    json event;
    try {
      event = json::parse(bytes.begin() + static_cast<std::ptrdiff_t>(begin),
                          bytes.begin() + static_cast<std::ptrdiff_t>(end));
    } catch (const json::exception& e) {
      throw DataError(where + ": not a JSON object: " + e.what());
    }
    state.apply(event, where);
    begin = end + 1;
  }
  return static_cast<int64_t>(begin);
}

std::string read_from(int fd, int64_t offset, const std::string& path) {
  struct stat st {};
  KILN_CHECK(::fstat(fd, &st) == 0, InputError, "cannot stat '", path, "': ", std::strerror(errno));
  std::string bytes(static_cast<std::size_t>(std::max<int64_t>(0, st.st_size - offset)), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, offset + static_cast<int64_t>(done));
    KILN_CHECK(n >= 0, InputError, "cannot read '", path, "': ", std::strerror(errno));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

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
  KILN_CHECK(e.is_object(), DataError, where, ": expected a JSON object");
  const std::string event = text(e, "event", where);
  if (event == "sweep") return;  // the header: settings live in sweep.json
  const std::string id = text(e, "trial", where);
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
    const int64_t lease = integer(e, "lease", where, 1);
    const int rung = static_cast<int>(integer(e, "rung", where, 0, 64));
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
    trial->worker = text(e, "worker", where);
    trial->heartbeat = real(e, "t", where);
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
  const int64_t lease = integer(e, "lease", where, 1);
  if (trial->state != Trial::State::kRunning || trial->lease != lease) return;
  if (event == "heartbeat") {
    trial->heartbeat = real(e, "t", where);
  } else if (event == "rung") {
    const int rung = static_cast<int>(integer(e, "rung", where, 0, 64));
    KILN_CHECK(rung == trial->rung, DataError, where, ": trial ", id, " runs to rung ", trial->rung,
               ", not ", rung);
    KILN_CHECK(e.contains("final") && e["final"].is_boolean(), DataError, where,
               ": 'final' must be true or false");
    const RungResult result{integer(e, "steps", where), real(e, "value", where)};
    const int64_t before = trial->rungs.empty() ? 0 : trial->rungs.rbegin()->second.steps;
    trial->rungs[rung] = result;
    const bool final = e["final"].get<bool>();
    history.push_back({id, rung, result, std::max<int64_t>(0, result.steps - before), final});
    trial->state = final ? Trial::State::kCompleted : Trial::State::kPaused;
    trial->lease = 0;
  } else if (event == "finish") {
    trial->state = parse_final_state(text(e, "state", where), where);
    trial->exit_code = static_cast<int>(integer(e, "exit", where, 0, 255));
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

Journal::Journal(std::string dir) : dir_(std::move(dir)), path_(journal_path(dir_)) {}

void Journal::transact(const std::function<std::vector<json>(const SweepState&)>& decide) {
  core::FileLock lock = core::FileLock::acquire((fs::path(dir_) / "journal.lock").string());
  Fd file{::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC)};
  KILN_CHECK(file.fd >= 0, InputError, "cannot open the sweep journal '", path_,
             "': ", std::strerror(errno), " (is this a sweep directory? see kiln sweep init)");
  const std::string bytes = read_from(file.fd, offset_, path_);
  const int64_t used = replay(state_, bytes, path_);
  offset_ += used;
  if (used < static_cast<int64_t>(bytes.size())) {
    core::log_warn(path_ + ": cutting off a torn last line (a writer died mid-write)");
    KILN_CHECK(::ftruncate(file.fd, offset_) == 0, OutputError, "cannot truncate '", path_,
               "': ", std::strerror(errno));
  }
  std::vector<json> events = decide(state_);
  if (events.empty()) return;
  const std::string out = journal_lines(std::move(events), journal_now());
  const ssize_t n = ::write(file.fd, out.data(), out.size());
  if (n != static_cast<ssize_t>(out.size())) {
    const std::string reason = n < 0 ? std::strerror(errno) : "short write";
    if (n > 0) (void)::ftruncate(file.fd, offset_);  // leave no torn line behind
    throw OutputError("cannot append to '" + path_ + "': " + reason);
  }
  KILN_CHECK(::fsync(file.fd) == 0, OutputError, "cannot fsync '", path_,
             "': ", std::strerror(errno));
  offset_ += replay(state_, out, path_);
}

SweepState Journal::read(const std::string& dir) {
  const std::string path = journal_path(dir);
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  KILN_CHECK(file.fd >= 0, InputError, "cannot open the sweep journal '", path,
             "': ", std::strerror(errno), " (is this a sweep directory? see kiln sweep init)");
  SweepState state;
  replay(state, read_from(file.fd, 0, path), path);
  return state;
}

void Journal::create(const std::string& dir, const std::vector<json>& events) {
  const std::string out = journal_lines(events, journal_now());
  SweepState check;  // what init writes must replay
  replay(check, out, journal_path(dir));
  core::atomic_write(journal_path(dir), out);
}

double journal_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace kiln::sweep
