#include "pipeline/pipeline.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "core/build_info.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/signals.h"
#include "core/textfile_metrics.h"
#include "data/dataset.h"
#include "pipeline/executor.h"
#include "pipeline/report.h"
#include "registry/registry.h"

namespace kiln::pipeline {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// The registry reference in a baseline or reference ("NAME=registry:REF" or "registry:REF"),
// or "" when it names no registry model.
std::string registry_ref_in(const std::string& text) {
  const std::size_t eq = text.find('=');
  const std::string ref = eq == std::string::npos ? text : text.substr(eq + 1);
  return ref.rfind("registry:", 0) == 0 ? ref : "";
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One run of a pipeline: keys, the cache, the steps' child processes and pipeline.json.
class Runner {
 public:
  Runner(const RunOptions& options, Pipeline pipeline)
      : o_(options),
        p_(std::move(pipeline)),
        dir_(options.dir.empty() ? (fs::path("pipelines") / fs::path(p_.path).stem()).string()
                                 : options.dir),
        registry_(registry::registry_dir(!options.registry.empty() ? options.registry
                                                                   : p_.file.registry)),
        executor_(options.executor, options.sbatch_args),
        metrics_(options.dry_run ? "" : options.metrics_file,
                 {{"pipeline", fs::path(p_.path).stem().string()}, {"dir", dir_}}) {}

  RunResult run() {
    // One run of a pipeline directory at a time: a second one (a scheduler starting the
    // next run before this one ended) would run the same steps into the same directories
    // and overwrite this run's record. A dry run writes nothing and takes no lock.
    if (!o_.dry_run) {
      core::make_directories(dir_);
      lock_ = core::lock_writer(
          (fs::path(dir_) / "pipeline.lock").string(),
          "pipeline directory '" + dir_ + "' is in use by another kiln pipeline run",
          "wait for it to end");
    }
    check_inputs();
    for (const std::string& name : p_.order)
      keys_[name] = key_of(name);
    RunResult result;
    record_ = {{"file", p_.path},
               {"dir", dir_},
               {"registry", registry_},
               {"kiln_version", core::build_info().version},
               {"started", core::utc_timestamp()},
               {"dry_run", o_.dry_run},
               {"steps", json::array()}};
    const std::set<std::string> again = rerun_set();
    export_metrics("running", true);
    core::StopSignals signals({SIGTERM, SIGINT, SIGUSR1});
    if (!o_.when_drift.empty()) {
      record_["trigger"] = drift_trigger(signals);
      if (!record_["trigger"].value("run", true)) {
        std::fprintf(progress(), "%s\n", record_["trigger"].value("reason", "").c_str());
        return finish(result);
      }
    }
    bool gated = false;
    for (const std::string& name : p_.order) {
      if (signals.received() != 0) {
        record_["stopped_at"] = {{"step", name}, {"reason", "stopped by a signal"}};
        result.exit_code = static_cast<int>(ExitCode::kPreempted);
        break;
      }
      json step = {{"name", name},
                   {"kind", core::enum_name(spec(name).kind)},
                   {"key", keys_[name]},
                   {"inputs", p_.inputs.at(name)}};
      const std::string skip = skip_reason(name);
      const fs::path sdir = step_dir(name);
      std::optional<json> cached = again.contains(name) ? std::nullopt : read_done(sdir, name);
      if (!skip.empty()) {
        step["state"] = "skipped";
        step["reason"] = skip;
      } else if (cached) {
        step = *cached;
        step["cached"] = true;
      } else if (o_.dry_run) {
        step["state"] = "to run";
        step["reason"] = again.contains(name) ? "--from or --force" : "no output of this key";
      } else {
        if (again.contains(name)) core::remove_tree(sdir.string());
        running_ = name;
        export_metrics("running", true);
        step = run_step(name, sdir, step, signals);
        running_.clear();
      }
      outcome_[name] = step.value("state", "");
      outputs_[name] = step.value("outputs", json::object());
      if (step["state"] == "gated" && !gated)
        record_["gated_by"] = {{"step", name}, {"reason", step.value("reason", "")}};
      gated = gated || step["state"] == "gated";
      print(step);
      record_["steps"].push_back(step);
      const std::string state = step["state"];
      if (state == "failed" || state == "stopped") {
        result.exit_code = step.value("exit_code", 1);
        record_["stopped_at"] = {{"step", name}, {"reason", step.value("reason", state)}};
        break;
      }
    }
    if (result.exit_code == 0 && gated) result.exit_code = static_cast<int>(ExitCode::kGateFailed);
    return finish(result);
  }

 private:
  RunResult finish(RunResult result) {
    record_["finished"] = core::utc_timestamp();
    record_["exit_code"] = result.exit_code;
    const int code = result.exit_code;
    export_metrics(code == 0                                         ? "passed"
                   : code == static_cast<int>(ExitCode::kGateFailed) ? "gated"
                   : code == static_cast<int>(ExitCode::kPreempted)  ? "stopped"
                                                                     : "failed",
                   true);
    if (!o_.dry_run) {
      fs::create_directories(dir_);
      core::atomic_write((fs::path(dir_) / "pipeline.json").string(), record_.dump(1) + "\n");
      core::atomic_write((fs::path(dir_) / "report.html").string(), render_report_html(record_));
    }
    result.record = record_;
    return result;
  }

  // --when-drift: the drift of the dataset against the validate step's reference, checked
  // with its gates; {"run": false, "reason": ...} when they pass.
  json drift_trigger(const core::StopSignals& signals) {
    const auto validate = std::find_if(p_.order.begin(), p_.order.end(), [&](const auto& name) {
      return spec(name).kind == StepKind::kValidate && !spec(name).reference.empty();
    });
    KILN_CHECK(validate != p_.order.end(), ConfigError, p_.path,
               ": --when-drift needs a validate step with a `reference` (what the data is "
               "checked against) and its `gates`");
    const StepSpec& s = spec(*validate);
    const auto named = p_.file.datasets.find(o_.when_drift);
    const std::string data = named != p_.file.datasets.end() ? named->second : o_.when_drift;
    json trigger = {{"dataset", data}, {"reference", s.reference}, {"step", *validate}};
    const std::string ref = registry_ref_in(s.reference);
    if (!ref.empty() && resolved_.at(ref).empty()) {
      trigger["run"] = true;
      trigger["reason"] = s.reference + " is not there yet: nothing to compare with";
      return trigger;
    }
    const fs::path out = fs::path(dir_) / "trigger";
    fs::create_directories(out);
    std::vector<std::string> args = {
        o_.kiln,      "drift",  "--reference", s.reference,
        "--data",     data,     "--out",       (out / "drift").string(),
        "--registry", registry_};
    const std::vector<std::string> gates =
        s.gates.empty() ? std::vector<std::string>{"drift_share < 0.5"} : s.gates;
    for (const std::string& g : gates)
      args.insert(args.end(), {"--gate", g});
    const std::string log = (out / "log.txt").string();
    const int code = run_child(args, log, signals);
    trigger["report"] = (out / "drift").string();
    const std::string found = drift_found(trigger["report"]);
    if (code == 0) {
      trigger["run"] = false;
      trigger["reason"] = "no drift of " + data + " against " + s.reference + " (gates " +
                          join(gates) + " passed" + (found.empty() ? "" : "; " + found) +
                          "): nothing to run";
      return trigger;
    }
    KILN_CHECK(code == static_cast<int>(ExitCode::kGateFailed), InputError,
               "--when-drift: kiln drift exited ", code, ": ", last_line(log));
    trigger["run"] = true;
    trigger["reason"] = "drift: " + last_line(log) + (found.empty() ? "" : "; " + found);
    std::fprintf(progress(), "%s\n", trigger["reason"].get<std::string>().c_str());
    return trigger;
  }

  const StepSpec& spec(const std::string& name) const { return p_.file.steps.at(name); }

  // Every dataset opens (its fingerprint), every config file is there, and every registry
  // reference resolves, except an alias that this pipeline itself sets (a register step's
  // alias, a promote step's `to`: the first run has no champion yet): all before any step
  // runs.
  void check_inputs() {
    for (const auto& [name, path] : p_.file.datasets) {
      try {
        fingerprints_[name] = data::Dataset::open(path)->fingerprint();
      } catch (const Error& e) {
        throw InputError(p_.path + ": datasets." + name + ": " + e.what());
      }
    }
    std::set<std::string> ours;  // NAME@ALIAS
    for (const auto& [name, s] : p_.file.steps) {
      if (s.kind == StepKind::kRegister && !s.alias.empty()) ours.insert(s.name + "@" + s.alias);
      if (s.kind == StepKind::kPromote) ours.insert(spec(s.version).name + "@" + s.to);
    }
    for (const auto& [name, s] : p_.file.steps) {
      for (const auto& [field, file] : {std::pair{"config", &s.config}, {"space", &s.space}})
        KILN_CHECK(file->empty() || fs::is_regular_file(*file), InputError, p_.path, ": steps.",
                   name, ".", field, ": no file '", *file, "'");
      KILN_CHECK(s.init.empty() || !registry_ref_in(s.init).empty() || fs::exists(s.init),
                 InputError, p_.path, ": steps.", name, ".init: no checkpoint or run at '", s.init,
                 "'");
      std::vector<std::string> refs = s.baselines;
      for (const std::string* one : {&s.reference, &s.init})
        if (!one->empty()) refs.push_back(*one);
      for (const std::string& text : refs) {
        const std::string ref = registry_ref_in(text);
        if (ref.empty()) continue;
        const registry::Ref parsed = registry::parse_ref(ref);
        try {
          resolved_[ref] = registry::Registry(registry_).resolve(parsed).path;
        } catch (const InputError& e) {
          if (parsed.alias.empty() || !ours.contains(parsed.name + "@" + parsed.alias))
            throw InputError(p_.path + ": steps." + name + ": " + ref + ": " + e.what());
          resolved_[ref] = "";  // not there yet: the step runs without it
        }
      }
    }
  }

  // The hash of the step's kind and settings, its datasets' fingerprints, its config file's
  // bytes, the keys of the steps it reads and the Kiln version.
  std::string key_of(const std::string& name) const {
    const StepSpec& s = spec(name);
    json k = {{"kind", core::enum_name(s.kind)},
              {"settings", core::schema::to_json(s)},
              {"kiln_version", core::build_info().version}};
    std::vector<std::string> datasets = s.datasets;
    for (const std::string* d : {&s.train, &s.valid, &s.data})
      if (!d->empty()) datasets.push_back(*d);
    for (const std::string& d : datasets)
      k["datasets"][d] = {{"path", p_.file.datasets.at(d)}, {"fingerprint", fingerprints_.at(d)}};
    if (!s.config.empty()) k["config_sha256"] = core::sha256_file(s.config);
    if (!s.space.empty()) k["space_sha256"] = core::sha256_file(s.space);
    for (const std::string& input : p_.inputs.at(name))
      k["inputs"][input] = keys_.at(input);
    return core::sha256_hex(k.dump()).substr(0, 16);
  }

  fs::path step_dir(const std::string& name) const {
    return fs::path(dir_) / "steps" / name / keys_.at(name);
  }

  // The steps to run again: --force's, and --from's with every step downstream of it.
  std::set<std::string> rerun_set() const {
    std::set<std::string> again;
    for (const std::string& f : o_.force) {
      KILN_CHECK(p_.file.steps.contains(f), UsageError, "--force: no step '", f, "' in ", p_.path);
      again.insert(f);
    }
    if (!o_.from.empty()) {
      KILN_CHECK(p_.file.steps.contains(o_.from), UsageError, "--from: no step '", o_.from, "' in ",
                 p_.path);
      again.insert(o_.from);
      for (const std::string& name : p_.order)
        for (const std::string& input : p_.inputs.at(name))
          if (again.contains(input)) again.insert(name);
    }
    return again;
  }

  // Why a step does not run: a step in its `after` did not pass, or a step it reads did not
  // complete.
  std::string skip_reason(const std::string& name) const {
    const StepSpec& s = spec(name);
    if (s.kind == StepKind::kReport) return "";  // it shows skipped steps too
    for (const std::string& input : p_.inputs.at(name)) {
      const std::string& state = outcome_.at(input);
      const bool after = std::find(s.after.begin(), s.after.end(), input) != s.after.end();
      if (state == "skipped") return "step '" + input + "' was skipped";
      if (after && state != "passed" && state != "to run")
        return "step '" + input + "' did not pass (" + state + ")";
    }
    return "";
  }

  // Whether `done` (an untrusted step.json) is a passed or gated record of this key with the
  // outputs its kind gives, each of its type.
  static bool complete(const json& done, StepKind kind, const std::string& key) {
    auto is_string = [](const json& j, const char* field) {
      return j.contains(field) && j[field].is_string();
    };
    if (!done.is_object() || !is_string(done, "key") || done["key"] != key ||
        !is_string(done, "state") || (done["state"] != "passed" && done["state"] != "gated") ||
        !done.contains("outputs") || !done["outputs"].is_object())
      return false;
    const json& out = done["outputs"];
    switch (kind) {
      case StepKind::kValidate:
        return true;
      case StepKind::kFit:
      case StepKind::kSweep:
        return is_string(out, "run");
      case StepKind::kEvaluate:
      case StepKind::kReport:
        return is_string(out, "report");
      case StepKind::kRegister:
      case StepKind::kPromote:
        return is_string(out, "name") && out.contains("version") &&
               out["version"].is_number_integer();
    }
    return false;
  }

  std::optional<json> read_done(const fs::path& sdir, const std::string& name) const {
    const fs::path file = sdir / "step.json";
    if (!fs::exists(file)) return std::nullopt;
    json done = json::parse(core::read_file(file.string(), "step record"), nullptr, false);
    if (!complete(done, spec(name).kind, keys_.at(name))) {
      core::log_warn(detail::concat(file.string(), ": not a complete step record; running '", name,
                                    "' again"));
      return std::nullopt;
    }
    return done;
  }

  std::string dataset_path(const std::string& name) const { return p_.file.datasets.at(name); }

  // The step's child processes, and its record: step.json, written last (its output is then
  // complete) when it passed or its gates failed.
  json run_step(const std::string& name, const fs::path& sdir, json step,
                const core::StopSignals& signals) {
    const StepSpec& s = spec(name);
    fs::create_directories(sdir);
    const std::string log = (sdir / "log.txt").string();
    const double start = now_seconds();
    step["started"] = core::utc_timestamp();
    step["log"] = log;
    json outputs = json::object();
    std::string state = "passed";
    int code = 0;
    auto call = [&](std::vector<std::string> args) {
      args.insert(args.begin(), o_.kiln);
      step["commands"].push_back(args);
      code = run_child(args, log, signals, name);
      return code;
    };
    std::fprintf(progress(), "[%s] %s: running (log %s)\n", core::enum_name(s.kind).data(),
                 name.c_str(), log.c_str());
    std::fflush(progress());
    switch (s.kind) {
      case StepKind::kValidate: {
        const std::string schema = (fs::path(dataset_path(s.datasets.front())) / "dataset.json");
        for (const std::string& d : s.datasets) {
          if (call({"data", "validate", dataset_path(d), "--schema", schema}) != 0) break;
          if (s.reference.empty()) continue;
          const std::string ref = registry_ref_in(s.reference);
          if (!ref.empty() && resolved_.at(ref).empty()) {
            outputs["drift_skipped"] = s.reference + " is not there yet";
            continue;
          }
          const std::string out = (sdir / ("drift-" + d)).string();
          std::vector<std::string> args = {"drift",  "--reference",   s.reference,
                                           "--data", dataset_path(d), "--out",
                                           out,      "--registry",    registry_};
          for (const std::string& g : s.gates)
            args.insert(args.end(), {"--gate", g});
          call(args);
          if (code != 0 && code != static_cast<int>(ExitCode::kGateFailed)) break;
          outputs["drift"][d] = {{"report", out}, {"gates_failed", code != 0}};
          code = 0;
        }
        break;
      }
      case StepKind::kFit: {
        std::vector<std::string> args = {"fit"};
        if (!s.config.empty()) args.insert(args.end(), {"--config", s.config});
        args.insert(args.end(), s.overrides.begin(), s.overrides.end());
        args.insert(args.end(),
                    {"data.train=" + dataset_path(s.train), "data.valid=" + dataset_path(s.valid),
                     "run.dir=" + sdir.string(), "run.experiment=pipeline", "run.name=" + name,
                     "--resume", "auto"});
        const std::string init_ref = registry_ref_in(s.init);
        if (!init_ref.empty() && resolved_.at(init_ref).empty())
          outputs["init_absent"] = s.init;  // the first run: no champion to start from
        else if (!s.init.empty())
          args.insert(args.end(), {"--init", s.init, "--registry", registry_});
        call(args);
        outputs["run"] = (sdir / "pipeline" / name).string();
        break;
      }
      case StepKind::kSweep: {  // init (once), run to the end, fit the best trial's config
        const std::string sweep = (sdir / "sweep").string();
        if (!fs::exists(fs::path(sweep) / "journal.jsonl")) {
          core::remove_tree(sweep);  // an init killed before its journal
          std::vector<std::string> args = {"sweep", "init"};
          if (!s.config.empty()) args.insert(args.end(), {"--config", s.config});
          args.insert(args.end(), s.overrides.begin(), s.overrides.end());
          args.insert(args.end(),
                      {"data.train=" + dataset_path(s.train), "data.valid=" + dataset_path(s.valid),
                       "--space", s.space, "--dir", sweep, "--trials", std::to_string(s.trials)});
          if (call(args) != 0) break;
        }
        if (call({"sweep", "run", "--dir", sweep, "--workers", std::to_string(s.workers)}) != 0)
          break;
        const std::string best = (sdir / "best.yaml").string();
        if (call({"sweep", "best", "--dir", sweep, "--out", best}) != 0) break;
        call({"fit", "--config", best, "run.dir=" + sdir.string(), "run.experiment=pipeline",
              "run.name=" + name, "--resume", "auto"});
        outputs["sweep"] = sweep;
        outputs["config"] = best;
        outputs["run"] = (sdir / "pipeline" / name).string();
        break;
      }
      case StepKind::kReport: {
        json shown = record_;
        shown["steps"] = json::array();
        for (const json& done : record_["steps"])
          if (std::find(s.steps.begin(), s.steps.end(), done.value("name", "")) != s.steps.end())
            shown["steps"].push_back(done);
        outputs["report"] = (sdir / "report.html").string();
        core::atomic_write(outputs["report"].get<std::string>(), render_report_html(shown));
        step.erase("log");  // it runs no command
        break;
      }
      case StepKind::kEvaluate: {
        const std::string out = (sdir / "report").string();
        std::vector<std::string> args = {
            "eval",  "--model", run_of(s.model), "--data", dataset_path(s.data),
            "--out", out,       "--registry",    registry_};
        for (const std::string& b : s.baselines) {
          const std::string ref = registry_ref_in(b);
          if (!ref.empty() && resolved_.at(ref).empty()) {
            outputs["baselines_absent"].push_back(b);
            continue;
          }
          args.insert(args.end(), {"--baseline", b});
        }
        for (const std::string& g : s.gates)
          args.insert(args.end(), {"--gate", g});
        if (!outputs.contains("baselines_absent")) {
          call(args);
        } else {  // gates may read the absent baseline: the report is made without them
          std::vector<std::string> ungated(args.begin(), args.end() - 2 * s.gates.size());
          call(ungated);
        }
        outputs["report"] = out;
        break;
      }
      case StepKind::kRegister: {
        registry::Registry reg(registry_);
        std::optional<int64_t> version = registered_version(reg, s.name, keys_.at(name));
        if (!version) {
          std::vector<std::string> args = {
              "registry", "register", run_of(s.model),
              "--name",   s.name,     "--registry",
              registry_,  "--tag",    "pipeline_key=" + keys_.at(name)};
          if (!s.alias.empty()) args.insert(args.end(), {"--alias", s.alias});
          for (const auto& [k, v] : s.tags)
            args.insert(args.end(), {"--tag", k + "=" + v});
          for (const std::string& r : s.reports)
            args.insert(args.end(), {"--eval", outputs_.at(r).value("report", "")});
          if (call(args) == 0) version = registered_version(reg, s.name, keys_.at(name));
        } else {
          outputs["note"] = "registered by an earlier run of this step";
          // A kill between the version and its alias's move: the move is made now.
          if (!s.alias.empty() && reg.state(s.name).alias(s.alias) != *version)
            call({"registry", "alias", "set", s.name + "@" + s.alias,
                  "v" + std::to_string(*version), "--registry", registry_});
        }
        if (version) outputs["version"] = *version;
        outputs["name"] = s.name;
        break;
      }
      case StepKind::kPromote: {
        const json& made = outputs_.at(s.version);
        const std::string model = made.value("name", "");
        const int64_t version = made.value("version", int64_t{0});
        registry::Registry reg(registry_);
        if (reg.state(model).alias(s.to) == version) {
          outputs["note"] = model + "@" + s.to + " already holds v" + std::to_string(version);
        } else {
          std::vector<std::string> args = {"registry",
                                           "promote",
                                           model,
                                           "--from",
                                           "v" + std::to_string(version),
                                           "--to",
                                           s.to,
                                           "--data",
                                           dataset_path(s.data),
                                           "--registry",
                                           registry_};
          for (const std::string& g : s.gates)
            args.insert(args.end(), {"--gate", g});
          call(args);
        }
        outputs["name"] = model;
        outputs["version"] = version;
        outputs["alias"] = s.to;
        outputs["holds"] = reg.state(model).alias(s.to).value_or(0);
        break;
      }
    }
    if (code == static_cast<int>(ExitCode::kGateFailed) &&
        (s.kind == StepKind::kEvaluate || s.kind == StepKind::kPromote)) {
      state = "gated";
    } else if (code == static_cast<int>(ExitCode::kPreempted) || signals.received() != 0) {
      state = "stopped";
      code = static_cast<int>(ExitCode::kPreempted);
    } else if (code != 0) {
      state = "failed";
    }
    step["state"] = state;
    step["exit_code"] = code;
    step["seconds"] = now_seconds() - start;
    step["outputs"] = outputs;
    if (state == "failed") step["reason"] = last_line(log);
    if (state == "stopped") step["reason"] = "stopped by a signal; the same command resumes";
    if (state == "gated") step["reason"] = last_line(log);
    if (state == "passed" || state == "gated")
      core::atomic_write((sdir / "step.json").string(), step.dump(1) + "\n");
    return step;
  }

  std::string run_of(const std::string& fit_step) const {
    return outputs_.at(fit_step).value("run", "");
  }

  // The version of `model` that an earlier run of this register step made (tagged with its
  // key), so that a rerun after a kill registers nothing twice: also one whose register was
  // killed between its rename and its journal line (recorded now, with its tags).
  static std::optional<int64_t> registered_version(registry::Registry& reg,
                                                   const std::string& model,
                                                   const std::string& key) {
    try {
      for (const auto& [n, v] : reg.recover(model).versions) {
        const auto it = v.tags.find("pipeline_key");
        if (it != v.tags.end() && it->second == key) return n;
      }
    } catch (const InputError&) {  // no such model yet
    }
    return std::nullopt;
  }

  // Runs a step's child to its end (as the Slurm job of step `step` under --executor slurm).
  int run_child(const std::vector<std::string>& args, const std::string& log,
                const core::StopSignals& signals, const std::string& step = "") {
    return executor_.run(args, log, signals, step, step.empty() ? "" : keys_.at(step),
                         [&] { export_metrics("running", false); });
  }

  // The metrics file (RunOptions::metrics_file) with the pipeline in `state`: the steps by
  // state (those not reached yet pending, the one running, the others as pipeline.json
  // records them, cached ones apart), written now when `now`, else every few seconds.
  void export_metrics(const char* state, bool now) {
    if (!metrics_.enabled()) return;
    std::map<std::string, int> steps;
    for (const char* s :
         {"pending", "running", "passed", "cached", "gated", "skipped", "failed", "stopped"})
      steps[s] = 0;
    for (const json& step : record_["steps"])
      ++steps[step.value("cached", false) ? "cached" : step.value("state", "failed")];
    steps["running"] = running_.empty() ? 0 : 1;
    steps["pending"] =
        static_cast<int>(p_.order.size() - record_["steps"].size()) - steps["running"];
    for (const auto& [name, count] : steps)
      metrics_.set("kiln_pipeline_steps", "gauge", "The pipeline's steps in each state.", count,
                   {{"state", name}});
    metrics_.set_state("kiln_pipeline_state", "1 for the pipeline's state, 0 for the others.",
                       {"running", "passed", "gated", "failed", "stopped"}, state);
    metrics_.set_heartbeat("kiln_pipeline_heartbeat_timestamp_seconds",
                           "Unix time of the pipeline's last sign of life.");
    if (now)
      metrics_.write();
    else
      metrics_.write_every(std::chrono::seconds(5));
  }

  static std::string last_line(const std::string& log) {
    std::string text;
    try {
      text = core::read_file(log, "step log");
    } catch (const Error&) {
      return "";
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
      text.pop_back();
    const std::size_t nl = text.rfind('\n');
    std::string line = nl == std::string::npos ? text : text.substr(nl + 1);
    // "kiln: gate_failed (exit 3): why" -> "why"
    if (line.rfind("kiln: ", 0) == 0) {
      const std::size_t colon = line.find("): ");
      if (colon != std::string::npos) line = line.substr(colon + 3);
    }
    return line;
  }

  std::FILE* progress() const { return o_.json ? stderr : stdout; }

  void print(const json& step) const {
    const std::string state = step.value("state", "");
    std::fprintf(progress(), "[%s] %s: %s%s%s\n", step.value("kind", "").c_str(),
                 step.value("name", "").c_str(),
                 step.value("cached", false) ? ("cached (" + state + ")").c_str() : state.c_str(),
                 step.contains("reason") ? " — " : "",
                 step.contains("reason") ? step["reason"].get<std::string>().c_str() : "");
    std::fflush(progress());
  }

  const RunOptions& o_;
  Pipeline p_;
  std::string dir_, registry_;
  Executor executor_;
  std::map<std::string, std::string> fingerprints_;  // dataset name -> fingerprint
  std::map<std::string, std::string> resolved_;      // registry reference -> path ("" absent)
  std::map<std::string, std::string> keys_;
  std::map<std::string, std::string> outcome_;  // step -> state
  std::map<std::string, json> outputs_;
  json record_;
  core::TextfileMetrics metrics_;       // --metrics-file
  std::string running_;                 // the step running now, or ""
  std::optional<core::FileLock> lock_;  // D/pipeline.lock, while the run lasts
};

}  // namespace

RunResult run_pipeline(const RunOptions& options) {
  return Runner(options, read_pipeline(options.file)).run();
}

}  // namespace kiln::pipeline
