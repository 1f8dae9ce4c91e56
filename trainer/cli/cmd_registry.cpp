// kiln registry register | ls | show | alias set|rm | tag | archive | verify | promote |
// rollback | history (docs/REGISTRY.md)
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/log.h"
#include "eval/report.h"
#include "registry/registry.h"
#include "trainer/cli/commands.h"
#include "trainer/promote.h"

namespace kiln::cli {
namespace {

using json = nlohmann::ordered_json;
using registry::Registry;

constexpr const char* kRegistryHelp =
    "the registry directory (default: $KILN_REGISTRY, else ./registry)";

// Every subcommand takes --registry (after the subcommand, where scripts put it).
std::shared_ptr<std::string> add_registry_option(CLI::App& command) {
  auto dir = std::make_shared<std::string>();
  command.add_option("--registry", *dir, kRegistryHelp);
  return dir;
}

Registry open_registry(const std::string& flag) {
  return Registry(registry::registry_dir(flag));
}

// "--expect vN" or "--expect none" as compare-and-set's expected holder (0: nothing).
std::optional<int64_t> expected(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (text == "none") return 0;
  return registry::parse_version(text);
}

// "k=v" pairs into a map; UsageError naming a pair without '='.
std::map<std::string, std::string> key_values(const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> out;
  for (const auto& p : pairs) {
    const auto eq = p.find('=');
    KILN_CHECK(eq != std::string::npos && eq > 0, UsageError, "--tag '", p,
               "': expected KEY=VALUE");
    out[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return out;
}

json tags_json(const std::map<std::string, std::string>& tags) {
  json out = json::object();
  for (const auto& [k, v] : tags)
    out[k] = v;
  return out;
}

json version_json(const registry::ModelState& s, const registry::VersionState& v) {
  return {{"version", v.version},
          {"created", core::utc_timestamp(v.created)},
          {"aliases", s.aliases_of(v.version)},
          {"tags", tags_json(v.tags)},
          {"archived", v.archived},
          {"reports", v.reports}};
}

std::string joined(const std::vector<std::string>& items, const char* sep = ",") {
  std::string out;
  for (const auto& i : items)
    out += (out.empty() ? "" : sep) + i;
  return out;
}

std::string move_text(const registry::AliasMove& m) {
  auto v = [](int64_t n) { return n == 0 ? std::string("-") : "v" + std::to_string(n); };
  std::string out = core::utc_timestamp(m.t) + "  " + m.alias + ": " + v(m.from) + " -> " +
                    v(m.version) + "  " + m.how + " by " + m.user + "@" + m.host;
  if (m.forced) out += " (forced, without evidence)";
  if (!m.report.empty()) out += " report " + m.report;
  return out;
}

void add_register(CLI::App& reg) {
  auto o = std::make_shared<registry::RegisterOptions>();
  auto tags = std::make_shared<std::vector<std::string>>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd = reg.add_subcommand(
      "register",
      "Verify a checkpoint (MANIFEST SHA-256) and add it as the model's next immutable version "
      "NAME/vN: its files (hard links where the file system allows, else copies), a model card "
      "version.json, attached eval reports; optionally set aliases");
  auto dir = add_registry_option(*cmd);
  cmd->add_option("SOURCE", o->source,
                  "a checkpoint, or a run directory (its model: the refit or best checkpoint)")
      ->required();
  cmd->add_option("--name", o->name, "the model's name")->required();
  cmd->add_option("--alias", o->aliases, "set this alias to the new version; repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--tag", *tags, "KEY=VALUE tag of the version; repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--eval", o->evals, "a `kiln eval --out` directory to attach; repeatable")
      ->allow_extra_args(false);
  cmd->add_flag("--copy", o->copy, "copy the files even where hard links work");
  cmd->add_flag("--json", *as_json, "print the model card");
  cmd->callback([o, tags, as_json, dir] {
    o->tags = key_values(*tags);
    const registry::Registered r = open_registry(*dir).register_version(*o);
    if (*as_json) {
      std::cout << r.card.dump(1) << "\n";
      return;
    }
    std::printf("registered %s/v%lld (%s): %s\n", o->name.c_str(),
                static_cast<long long>(r.version), r.linked ? "hard links" : "copies",
                r.path.c_str());
  });
}

void add_ls(CLI::App& reg) {
  auto name = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd = reg.add_subcommand(
      "ls", "List the models, or one model's versions (archived ones with --all)");
  auto dir = add_registry_option(*cmd);
  cmd->add_option("NAME", *name, "a model: list its versions");
  cmd->add_flag("--all", *all, "include archived versions");
  cmd->add_flag("--json", *as_json, "print JSON");
  cmd->callback([name, all, as_json, dir] {
    Registry r = open_registry(*dir);
    json out = json::array();
    if (name->empty()) {
      for (const auto& m : r.models()) {
        const registry::ModelState s = r.state(m);
        json aliases = json::object();
        for (const auto& [a, held] : s.aliases)
          if (!held.empty()) aliases[a] = held.back();
        out.push_back({{"name", m}, {"versions", s.versions.size()}, {"aliases", aliases}});
      }
      if (*as_json) {
        std::cout << out.dump(1) << "\n";
        return;
      }
      if (out.empty()) std::printf("no models in %s\n", r.dir().c_str());
      for (const auto& m : out) {
        std::string aliases;
        for (const auto& [a, v] : m["aliases"].items())
          aliases += " " + a + "=v" + std::to_string(v.get<int64_t>());
        std::printf("%-24s %4zu versions%s\n", m["name"].get<std::string>().c_str(),
                    m["versions"].get<std::size_t>(), aliases.c_str());
      }
      return;
    }
    const registry::ModelState s = r.state(*name);
    for (const auto& [v, info] : s.versions)
      if (*all || !info.archived) out.push_back(version_json(s, info));
    if (*as_json) {
      std::cout << out.dump(1) << "\n";
      return;
    }
    for (const auto& v : out) {
      std::string tags;
      for (const auto& [k, value] : v["tags"].items())
        tags += " " + k + "=" + value.get<std::string>();
      std::printf("%s/v%-5lld %s  %-20s%s%s\n", name->c_str(),
                  static_cast<long long>(v["version"].get<int64_t>()),
                  v["created"].get<std::string>().c_str(),
                  joined(v["aliases"].get<std::vector<std::string>>()).c_str(), tags.c_str(),
                  v["archived"].get<bool>() ? " (archived)" : "");
    }
  });
}

void add_show(CLI::App& reg) {
  auto ref = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd = reg.add_subcommand(
      "show", "A version's model card, its aliases, tags and reports, and its aliases' history");
  auto dir = add_registry_option(*cmd);
  cmd->add_option("REF", *ref, "NAME/vN or NAME@ALIAS (registry: optional)")->required();
  cmd->add_flag("--json", *as_json, "print JSON");
  cmd->callback([ref, as_json, dir] {
    Registry r = open_registry(*dir);
    const registry::Resolved at = r.resolve(registry::parse_ref(*ref));
    const registry::ModelState s = r.state(at.ref.name);
    const registry::VersionState* v = s.find(at.version);
    KILN_CHECK(v != nullptr, InputError, at.text(), " is not in the journal of ", at.ref.name,
               " yet (its register is still running, or was killed: the next register records it)");
    json out = version_json(s, *v);
    out["path"] = at.path;
    out["card"] = r.card(at.ref.name, at.version);
    std::vector<registry::AliasMove> moves;  // those to or from this version
    std::copy_if(s.moves.begin(), s.moves.end(), std::back_inserter(moves),
                 [&](const auto& m) { return m.version == at.version || m.from == at.version; });
    json history = json::array();
    for (const auto& m : moves)
      history.push_back(m.to_json());
    out["history"] = history;
    if (*as_json) {
      std::cout << out.dump(1) << "\n";
      return;
    }
    const json& card = out["card"];
    std::printf("%s  %s\n", at.text().c_str(), at.path.c_str());
    std::printf("  created   %s by %s\n", card.value("created", "").c_str(),
                card.value("created_by", "").c_str());
    std::printf("  source    %s (step %s)\n", card["source"].value("checkpoint", "").c_str(),
                card["source"].value("step", json(0)).dump().c_str());
    std::printf("  aliases   %s\n", joined(out["aliases"].get<std::vector<std::string>>()).c_str());
    std::string metrics;  // the validation metrics of the checkpoint
    const json all = card.value("metrics", json::object());
    for (const auto& [k, value] : all.items())
      if (k.rfind("val/", 0) == 0 && value.is_number())
        metrics += " " + k + " " + std::to_string(value.get<double>());
    std::printf("  metrics  %s\n", metrics.c_str());
    std::printf("  parent    %s\n", card.value("parent", json(nullptr)).dump().c_str());
    std::printf("  kiln      %s (%s)\n", card.value("kiln_version", "").c_str(),
                card.value("git_revision", "").c_str());
    if (v->archived) std::printf("  archived\n");
    for (const auto& rep : v->reports)
      std::printf("  report    %s\n", r.report_dir(at.ref.name, rep).c_str());
    for (const auto& m : moves)
      std::printf("  moved     %s\n", move_text(m).c_str());
  });
}

void add_alias(CLI::App& reg) {
  CLI::App* alias = reg.add_subcommand("alias", "Set or remove an alias");
  alias->require_subcommand(1);
  struct Args {
    std::string ref, version, expect;
  };
  auto a = std::make_shared<Args>();
  CLI::App* set =
      alias->add_subcommand("set", "Point NAME@ALIAS at a version (compare-and-set with --expect)");
  auto dir = add_registry_option(*set);
  set->add_option("REF", a->ref, "NAME@ALIAS")->required();
  set->add_option("VERSION", a->version, "vN")->required();
  set->add_option("--expect", a->expect,
                  "move only if the alias holds this version now (vN, or none); else exit 5");
  set->callback([a, dir] {
    const registry::Ref ref = registry::parse_ref(a->ref);
    KILN_CHECK(!ref.alias.empty(), UsageError, "'", a->ref, "': expected NAME@ALIAS");
    registry::MoveOptions o{ref.name, ref.alias, registry::parse_version(a->version),
                            expected(a->expect)};
    std::printf("%s\n", move_text(open_registry(*dir).move_alias(o)).c_str());
  });
  auto b = std::make_shared<Args>();
  CLI::App* rm = alias->add_subcommand("rm", "Remove NAME@ALIAS (the history keeps it)");
  auto rm_dir = add_registry_option(*rm);
  rm->add_option("REF", b->ref, "NAME@ALIAS")->required();
  rm->add_option("--expect", b->expect, "remove only if the alias holds this version now (vN)");
  rm->callback([b, rm_dir] {
    const registry::Ref ref = registry::parse_ref(b->ref);
    KILN_CHECK(!ref.alias.empty(), UsageError, "'", b->ref, "': expected NAME@ALIAS");
    std::printf("%s\n", move_text(open_registry(*rm_dir).remove_alias(ref.name, ref.alias,
                                                                      expected(b->expect)))
                            .c_str());
  });
}

// NAME/vN, checked.
registry::Ref version_ref(const std::string& text) {
  const registry::Ref ref = registry::parse_ref(text);
  KILN_CHECK(ref.version > 0, UsageError, "'", text, "': expected NAME/vN");
  return ref;
}

void add_tag_and_archive(CLI::App& reg) {
  struct Args {
    std::string ref;
    std::vector<std::string> set, unset;
  };
  auto a = std::make_shared<Args>();
  CLI::App* tag = reg.add_subcommand("tag", "Set or remove tags of a version");
  auto dir = add_registry_option(*tag);
  tag->add_option("REF", a->ref, "NAME/vN")->required();
  tag->add_option("TAGS", a->set, "KEY=VALUE to set");
  tag->add_option("--rm", a->unset, "a tag key to remove; repeatable")->allow_extra_args(false);
  tag->callback([a, dir] {
    const registry::Ref ref = version_ref(a->ref);
    open_registry(*dir).tag(ref.name, ref.version, key_values(a->set), a->unset);
    std::printf("tagged %s\n", ref.text().c_str());
  });
  auto ref = std::make_shared<std::string>();
  CLI::App* archive = reg.add_subcommand(
      "archive", "Hide a version from ls (kept on disk; an aliased version cannot be archived)");
  auto archive_dir = add_registry_option(*archive);
  archive->add_option("REF", *ref, "NAME/vN")->required();
  archive->callback([ref, archive_dir] {
    const registry::Ref r = version_ref(*ref);
    open_registry(*archive_dir).archive(r.name, r.version);
    std::printf("archived %s\n", r.text().c_str());
  });
}

void add_verify(CLI::App& reg) {
  auto ref = std::make_shared<std::string>();
  CLI::App* cmd = reg.add_subcommand(
      "verify",
      "Check every file of every version (or of one model or version) against its SHA-256, "
      "every card against the journal and every alias file; exit 65 naming each problem");
  auto dir = add_registry_option(*cmd);
  cmd->add_option("REF", *ref, "NAME or NAME/vN or NAME@ALIAS (default: the whole registry)");
  cmd->callback([ref, dir] {
    Registry r = open_registry(*dir);
    std::vector<std::pair<std::string, int64_t>> what;
    if (ref->empty()) {
      for (const auto& m : r.models())
        what.emplace_back(m, 0);
    } else if (ref->find_first_of("@/") == std::string::npos) {
      what.emplace_back(*ref, 0);
    } else {
      const registry::Resolved at = r.resolve(registry::parse_ref(*ref));
      what.emplace_back(at.ref.name, at.version);
    }
    std::vector<std::string> problems;
    for (const auto& [name, version] : what)
      for (auto& p : r.verify(name, version))
        problems.push_back(std::move(p));
    for (const auto& p : problems)
      std::fprintf(stderr, "%s\n", p.c_str());
    KILN_CHECK(problems.empty(), DataError, problems.size(), " problem(s) in ", r.dir(),
               "; first: ", problems.empty() ? "" : problems.front());
    std::printf("ok: %zu model(s) verified in %s\n", what.size(), r.dir().c_str());
  });
}

void add_promote(CLI::App& reg) {
  auto o = std::make_shared<trainer::PromoteOptions>();
  auto gates = std::make_shared<std::vector<std::string>>();
  auto config = std::make_shared<ConfigArgs>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd = reg.add_subcommand(
      "promote",
      "Move an alias to the candidate only on evidence: both versions score --data, the "
      "comparison of kiln eval (DeLong for AUROC, paired bootstrap for the rest) is attached to "
      "the candidate, and the alias moves only if every gate passes (default: 'auroc >= "
      "baseline.auroc'); exit 3 and no move when a gate fails");
  auto dir = add_registry_option(*cmd);
  cmd->add_option("NAME", o->name, "the model")->required();
  cmd->add_option("--from", o->from, "the candidate: an alias or vN")->capture_default_str();
  cmd->add_option("--to", o->to, "the alias to move")->capture_default_str();
  cmd->add_option("--data", o->data, "labelled dataset both versions score");
  cmd->add_option("--gate", *gates, "a gate as in kiln eval; repeatable (replaces the default)")
      ->allow_extra_args(false);
  cmd->add_flag("--force", o->force, "move without evidence (the history records it)");
  cmd->add_flag("--json", *as_json, "print the report JSON");
  add_config_args(*cmd, *config);
  cmd->callback([o, gates, config, as_json, dir] {
    const trainer::KilnConfig resolved = resolve(*config);
    eval::EvalOptions options = resolved.eval;
    options.gates.insert(options.gates.end(), gates->begin(), gates->end());
    o->report = eval::report_options(options, static_cast<uint64_t>(resolved.run.seed));
    o->registry = registry::registry_dir(*dir);
    o->device = resolved.train.device;
    const trainer::PromoteResult r = trainer::promote(*o);
    if (*as_json && !r.report.is_null()) std::cout << r.report.dump(1) << "\n";
    const std::string champion = r.champion ? "v" + std::to_string(*r.champion) : "nothing";
    if (!*as_json) {
      for (const auto& g : r.report.is_null() ? json::array() : r.report["gates"])
        std::printf("  gate %-40s %s\n", g["gate"].get<std::string>().c_str(),
                    g["passed"].get<bool>() ? "pass" : "FAIL");
      if (!r.report_id.empty())
        std::printf("  report %s\n",
                    Registry(o->registry).report_dir(o->name, r.report_id).c_str());
      if (r.moved)
        std::printf("promoted %s@%s: %s -> v%lld%s\n", o->name.c_str(), o->to.c_str(),
                    champion.c_str(), static_cast<long long>(r.candidate),
                    o->force ? " (forced, without evidence)" : "");
      else
        std::printf("not promoted: %s@%s stays %s (candidate v%lld)\n", o->name.c_str(),
                    o->to.c_str(), champion.c_str(), static_cast<long long>(r.candidate));
    }
    if (!r.moved) eval::check_gates(r.report);
  });
}

void add_rollback_and_history(CLI::App& reg) {
  auto ref = std::make_shared<std::string>();
  auto expect = std::make_shared<std::string>();
  CLI::App* rollback = reg.add_subcommand(
      "rollback", "Return NAME@ALIAS to the version it held before its last move");
  auto dir = add_registry_option(*rollback);
  rollback->add_option("REF", *ref, "NAME@ALIAS")->required();
  rollback->add_option("--expect", *expect, "roll back only if the alias holds this version (vN)");
  rollback->callback([ref, expect, dir] {
    const registry::Ref r = registry::parse_ref(*ref);
    KILN_CHECK(!r.alias.empty(), UsageError, "'", *ref, "': expected NAME@ALIAS");
    std::printf(
        "%s\n",
        move_text(open_registry(*dir).rollback(r.name, r.alias, expected(*expect))).c_str());
  });
  auto href = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* history = reg.add_subcommand("history", "Every move of NAME@ALIAS: when, who, how");
  auto hdir = add_registry_option(*history);
  history->add_option("REF", *href, "NAME@ALIAS")->required();
  history->add_flag("--json", *as_json, "print JSON");
  history->callback([href, as_json, hdir] {
    const registry::Ref r = registry::parse_ref(*href);
    KILN_CHECK(!r.alias.empty(), UsageError, "'", *href, "': expected NAME@ALIAS");
    const registry::ModelState s = open_registry(*hdir).state(r.name);
    std::vector<registry::AliasMove> moves;
    std::copy_if(s.moves.begin(), s.moves.end(), std::back_inserter(moves),
                 [&](const auto& m) { return m.alias == r.alias; });
    KILN_CHECK(!moves.empty(), InputError, "no alias '", r.alias, "' on model '", r.name,
               "' (it never held a version)");
    if (*as_json) {
      json out = json::array();
      for (const auto& m : moves)
        out.push_back(m.to_json());
      std::cout << out.dump(1) << "\n";
      return;
    }
    for (const auto& m : moves)
      std::printf("%s\n", move_text(m).c_str());
  });
}

}  // namespace

void add_registry_command(CLI::App& app) {
  CLI::App* reg = app.add_subcommand(
      "registry",
      "The model registry: immutable versions with model cards, aliases moved on evidence, "
      "rollback and history; a directory on a shared file system (docs/REGISTRY.md)");
  reg->require_subcommand(1);
  add_register(*reg);
  add_ls(*reg);
  add_show(*reg);
  add_alias(*reg);
  add_tag_and_archive(*reg);
  add_verify(*reg);
  add_promote(*reg);
  add_rollback_and_history(*reg);
}

}  // namespace kiln::cli
