// An append-only journal of JSON events, one a line, written under an advisory lock: the
// sweep journal (sweep/journal.h) and each registered model's journal (registry/) are
// one. Any number of processes on any machines that share the file system append to it;
// readers replay it without the lock.
//
// The protocol: a writer takes an open-file-description lock on a lock file beside the
// journal (released when its holder dies), replays the lines appended since it last looked,
// cuts off a torn last line (a writer killed mid-write), decides, appends its events in one
// write(2), fsyncs, and releases the lock. A reader replays the complete lines and ignores a
// torn last one.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kiln::core {

class EventLog {
 public:
  // Applies one event to the replayer's state. `where` is "<path> line <n>" for messages:
  // a malformed event or one that contradicts the state is a DataError naming it.
  using Apply = std::function<void(const nlohmann::json& event, const std::string& where)>;

  // The journal at `path`, locked through `lock_path`. `missing` is appended to the message
  // when the journal does not exist and `create` is false (what the user should do).
  EventLog(std::string path, std::string lock_path, bool create = false, std::string missing = "");

  // Under the lock: replays through `apply` the lines appended since the last call, then
  // appends the events `decide` returns (each stamped with "t", journal_now()) in one write,
  // fsyncs, applies them, and releases the lock. `decide` runs under the lock, so what it
  // does (a rename into place) is ordered with every other writer's. When the file is not
  // the one replayed so far (replaced, or shorter than what was replayed), `reset` clears
  // the replayer's state and the whole file is replayed. `committed`, when given, runs under
  // the lock after events were appended and applied: what must follow them in the journal's
  // order (files rewritten from the state, which a writer after this one rewrites again).
  // DataError for a malformed line, InputError when the journal is missing (and not to be
  // created), OutputError when it cannot be written.
  void transact(const Apply& apply, const std::function<std::vector<nlohmann::json>()>& decide,
                const std::function<void()>& reset, const std::function<void()>& committed = {});

  // Replays the whole journal at `path` without the lock; a torn last line is ignored.
  // InputError (66) naming it, with `missing`, when there is none.
  static void replay(const std::string& path, const Apply& apply, const std::string& missing = "");

  // Writes a new journal holding `events` (stamped), replacing any, atomically; `apply`
  // checks them first. OutputError on failure.
  static void create(const std::string& path, const std::vector<nlohmann::json>& events,
                     const Apply& apply);

  const std::string& path() const { return path_; }

 private:
  std::string path_, lock_path_, missing_;
  bool create_ = false;
  int64_t offset_ = 0;  // bytes replayed so far
  int64_t lines_ = 0;   // lines replayed so far
  uint64_t inode_ = 0;  // of the file replayed so far
};

// The current time as journals record it: unix seconds.
double journal_now();

}  // namespace kiln::core
