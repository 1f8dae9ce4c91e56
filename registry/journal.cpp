#include "registry/journal.h"

#include <cctype>

#include "core/errors.h"
#include "core/event_log.h"
#include "core/json_fields.h"
#include "core/log.h"
#include "registry/ref.h"

namespace kiln::registry {
namespace {

using json = nlohmann::json;
using core::json_int;
using core::json_number;
using core::json_string;

constexpr int64_t kMaxVersion = 1'000'000'000'000;  // far beyond any registry, and no overflow

std::string optional_string(const json& e, const char* key, const std::string& where) {
  if (!e.contains(key)) return "";
  return json_string(e, key, where);
}

// A report's id: a plain name under NAME/reports/ (the journal is untrusted: never a path).
std::string report_id(const json& e, const std::string& where) {
  const std::string id = optional_string(e, "report", where);
  bool plain = id.empty() || (id.front() != '.' && id.size() <= 64);
  for (char c : id)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  KILN_CHECK(plain, DataError, where, ": report '", id, "' is not a report id");
  return id;
}

}  // namespace

nlohmann::ordered_json AliasMove::to_json() const {
  nlohmann::ordered_json out = {{"alias", alias},
                                {"version", version == 0 ? json(nullptr) : json(version)},
                                {"from", from == 0 ? json(nullptr) : json(from)},
                                {"how", how},
                                {"at", core::utc_timestamp(t)},
                                {"user", user},
                                {"host", host}};
  if (forced) out["forced"] = true;
  if (!report.empty()) out["report"] = report;
  return out;
}

std::optional<int64_t> ModelState::alias(const std::string& name) const {
  const auto it = aliases.find(name);
  if (it == aliases.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ModelState::aliases_of(int64_t version) const {
  std::vector<std::string> out;
  for (const auto& [name, held] : aliases)
    if (!held.empty() && held.back() == version) out.push_back(name);
  return out;
}

const VersionState* ModelState::find(int64_t version) const {
  const auto it = versions.find(version);
  return it == versions.end() ? nullptr : &it->second;
}

void ModelState::apply(const json& e, const std::string& where) {
  const std::string event = json_string(e, "event", where);
  const double t = json_number(e, "t", where);
  if (event == "register") {
    const int64_t v = json_int(e, "version", where, 1, kMaxVersion);
    KILN_CHECK(v == last_version + 1, DataError, where, ": registers v", v, ", expected v",
               last_version + 1, " (version numbers are used once, in order)");
    VersionState s;
    s.version = v;
    s.created = t;
    s.card_sha256 = json_string(e, "card_sha256", where);
    if (e.contains("tags")) {
      KILN_CHECK(e["tags"].is_object(), DataError, where, ": 'tags' must be an object");
      for (const auto& [k, value] : e["tags"].items())
        s.tags[k] = value.is_string() ? value.get<std::string>() : value.dump();
    }
    versions[v] = std::move(s);
    last_version = v;
    return;
  }
  if (event == "alias") {
    AliasMove m;
    m.alias = json_string(e, "alias", where);
    m.how = json_string(e, "how", where);
    m.t = t;
    m.user = optional_string(e, "user", where);
    m.host = optional_string(e, "host", where);
    m.report = report_id(e, where);
    KILN_CHECK(!e.contains("forced") || e["forced"].is_boolean(), DataError, where,
               ": 'forced' must be true or false");
    m.forced = e.value("forced", false);
    m.version = m.how == "remove" ? 0 : json_int(e, "version", where, 1, kMaxVersion);
    m.from =
        e.contains("from") && !e["from"].is_null() ? json_int(e, "from", where, 1, kMaxVersion) : 0;
    KILN_CHECK(m.version == 0 || versions.count(m.version), DataError, where,
               ": names unknown version v", m.version);
    std::vector<int64_t>& held = aliases[m.alias];
    const int64_t now = held.empty() ? 0 : held.back();
    KILN_CHECK(m.from == now, DataError, where, ": moves ", m.alias, " from ",
               m.from == 0 ? "nothing" : "v" + std::to_string(m.from), " but it holds ",
               now == 0 ? "nothing" : "v" + std::to_string(now));
    if (m.how == "remove") {
      held.clear();
    } else if (m.how == "rollback") {
      KILN_CHECK(held.size() >= 2 && held[held.size() - 2] == m.version, DataError, where,
                 ": rolls ", m.alias, " back to v", m.version, ", which it did not hold before");
      held.pop_back();
    } else {
      KILN_CHECK(m.how == "register" || m.how == "set" || m.how == "promote", DataError, where,
                 ": unknown alias move '", m.how, "'");
      held.push_back(m.version);
    }
    alias_since[m.alias] = m.t;
    moves.push_back(std::move(m));
    return;
  }
  const int64_t v = json_int(e, "version", where, 1, kMaxVersion);
  const auto it = versions.find(v);
  KILN_CHECK(it != versions.end(), DataError, where, ": names unknown version v", v);
  VersionState& s = it->second;
  if (event == "tag") {
    if (e.contains("set")) {
      KILN_CHECK(e["set"].is_object(), DataError, where, ": 'set' must be an object");
      for (const auto& [k, value] : e["set"].items())
        s.tags[k] = value.is_string() ? value.get<std::string>() : value.dump();
    }
    if (e.contains("unset")) {
      KILN_CHECK(e["unset"].is_array(), DataError, where, ": 'unset' must be an array");
      for (const auto& k : e["unset"])
        if (k.is_string()) s.tags.erase(k.get<std::string>());
    }
  } else if (event == "archive") {
    KILN_CHECK(aliases_of(v).empty(), DataError, where, ": archives v", v,
               ", which an alias holds");
    s.archived = true;
  } else if (event == "attach") {
    KILN_CHECK(e.contains("report"), DataError, where, ": 'report' must be a string");
    s.reports.push_back(report_id(e, where));
  } else {
    throw DataError(where + ": unknown event '" + event + "'");
  }
}

}  // namespace kiln::registry
