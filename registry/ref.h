// Names and references of the model registry (docs/REGISTRY.md).
//
//   registry:NAME@ALIAS   the version an alias holds now (fraud@champion)
//   registry:NAME/vN      one version (fraud/v7)
//
// The registry is a directory: --registry DIR, else $KILN_REGISTRY, else ./registry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::registry {

inline constexpr std::string_view kRefPrefix = "registry:";

// Whether `text` is a registry reference (starts with "registry:").
bool is_ref(std::string_view text);

// A model reference as words for a shell command: `model` quoted, and `--registry DIR` after
// a registry reference when a registry was given (`registry_flag`).
std::string model_words(const std::string& model, const std::string& registry_flag);

// A model, alias or tag key name: 1 to 64 of [A-Za-z0-9._-], not starting with '.' or '-'
// (so never "..", never a path). Alias names also may not look like a version (v7).
// UsageError (64) naming `what` and the name.
void check_name(std::string_view name, std::string_view what);
void check_alias(std::string_view alias);

struct Ref {
  std::string name;
  int64_t version = 0;       // NAME/vN; 0 when by alias
  std::string alias;         // NAME@ALIAS
  std::string text() const;  // "fraud/v7" or "fraud@champion"
};

// "NAME@ALIAS" or "NAME/vN", with or without the "registry:" prefix. UsageError (64).
Ref parse_ref(std::string_view text);

// "vN" (or "N") as a version number; UsageError naming the text.
int64_t parse_version(std::string_view text);

// What a command calls a version of model `name`: "vN" (a version) or an alias name.
Ref version_or_alias(std::string_view name, std::string_view text);

// The registry directory: `flag` when given, else $KILN_REGISTRY, else "registry".
std::string registry_dir(const std::string& flag);

}  // namespace kiln::registry
