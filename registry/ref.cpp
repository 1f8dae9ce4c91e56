#include "registry/ref.h"

#include <cstdlib>

#include "core/errors.h"
#include "core/process.h"

namespace kiln::registry {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 12) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool looks_like_version(std::string_view text) {
  return text.size() > 1 && text[0] == 'v' && all_digits(text.substr(1));
}

}  // namespace

bool is_ref(std::string_view text) {
  return text.substr(0, kRefPrefix.size()) == kRefPrefix;
}

std::string model_words(const std::string& model, const std::string& registry_flag) {
  return core::shell_word(model) + (is_ref(model) && !registry_flag.empty()
                                        ? " --registry " + core::shell_word(registry_flag)
                                        : "");
}

void check_name(std::string_view name, std::string_view what) {
  bool ok = !name.empty() && name.size() <= 64 && name.front() != '.' && name.front() != '-';
  for (char c : name)
    ok = ok && is_name_char(c);
  KILN_CHECK(ok, UsageError, what, " '", name,
             "' is not a name: 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' "
             "or '-'");
}

void check_alias(std::string_view alias) {
  check_name(alias, "alias");
  KILN_CHECK(!looks_like_version(alias), UsageError, "alias '", alias,
             "' looks like a version; choose another name");
}

Ref version_or_alias(std::string_view name, std::string_view text) {
  if (looks_like_version(text)) return Ref{std::string(name), parse_version(text), ""};
  return Ref{std::string(name), 0, std::string(text)};
}

std::string Ref::text() const {
  return version > 0 ? name + "/v" + std::to_string(version) : name + "@" + alias;
}

int64_t parse_version(std::string_view text) {
  const std::string_view digits = !text.empty() && text[0] == 'v' ? text.substr(1) : text;
  KILN_CHECK(all_digits(digits) && std::stoll(std::string(digits)) > 0, UsageError, "'", text,
             "' is not a version (v1, v2, ...)");
  return std::stoll(std::string(digits));
}

Ref parse_ref(std::string_view text) {
  const std::string_view body = is_ref(text) ? text.substr(kRefPrefix.size()) : text;
  Ref ref;
  const std::size_t at = body.find('@');
  const std::size_t slash = body.find('/');
  KILN_CHECK(at != std::string_view::npos || slash != std::string_view::npos, UsageError,
             "registry reference '", text, "': expected registry:NAME@ALIAS or registry:NAME/vN");
  if (at != std::string_view::npos && (slash == std::string_view::npos || at < slash)) {
    ref.name = std::string(body.substr(0, at));
    ref.alias = std::string(body.substr(at + 1));
    check_alias(ref.alias);
  } else {
    ref.name = std::string(body.substr(0, slash));
    ref.version = parse_version(body.substr(slash + 1));
  }
  check_name(ref.name, "model name");
  return ref;
}

std::string registry_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("KILN_REGISTRY");
  return env != nullptr && *env != '\0' ? env : "registry";
}

}  // namespace kiln::registry
