// kiln data synth | import | inspect | profile | validate (fit-transform and transform:
// cmd_transform.cpp)
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/process.h"
#include "data/csv_import.h"
#include "data/dataset.h"
#include "data/inspect.h"
#include "data/profile.h"
#include "data/stats.h"
#include "data/synth.h"
#include "registry/registry.h"
#include "trainer/cli/commands.h"
#include "trainer/monitor.h"

namespace kiln::cli {
namespace {

void add_write_options(CLI::App& command, data::ShardWriteOptions& write) {
  command.add_option("--chunk-rows", write.chunk_rows, "rows per HDF5 chunk")
      ->capture_default_str();
  command.add_option("--gzip", write.gzip_level, "gzip level 1-9 (0: uncompressed)")
      ->check(CLI::Range(0, 9))
      ->capture_default_str();
  command.add_flag("--shuffle-filter", write.shuffle, "HDF5 byte-shuffle filter before gzip");
  command.add_flag("--fletcher32", write.fletcher32, "a Fletcher32 checksum per chunk");
}

void add_synth(CLI::App& data) {
  auto o = std::make_shared<data::SynthOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* synth = data.add_subcommand(
      "synth",
      "Write realistic synthetic data: train/, valid/, test/ (split by hashed row id) and oot/ "
      "(the latest rows by time) under --out. Skewed, heavy-tailed numerics with outliers and "
      "missing values, Zipf-distributed categoricals, rare positives, a label that depends "
      "non-linearly on features and their interactions, known label noise. Deterministic "
      "from --seed; streams, so any --rows fits in memory.");
  synth->add_option("--out", o->out, "output directory")->required();
  synth->add_option("--rows", o->rows, "rows over all splits")->capture_default_str();
  synth->add_option("--shards", o->shards, "shards of the train split (others proportionally)")
      ->capture_default_str();
  synth->add_option("--seed", o->seed, "random seed")->capture_default_str();
  synth->add_option("--preset", o->preset, "fraud or credit")
      ->check(CLI::IsMember({"fraud", "credit"}))
      ->capture_default_str();
  synth->add_option("--positive-rate", o->positive_rate, "rate of positive labels")
      ->capture_default_str();
  synth->add_option("--label-noise", o->label_noise, "probability that a label is flipped")
      ->capture_default_str();
  synth->add_option("--oot-fraction", o->oot_fraction, "latest fraction of rows for the oot split")
      ->capture_default_str();
  synth
      ->add_option("--drift", o->drift,
                   "a known drift from --drift-at on: covariate (the inputs move: fraud amount, "
                   "device_risk, country; credit income, utilization, purpose), prior (three "
                   "times the positive rate, P(x|y) kept) or concept (P(y|x) changes, P(x) kept)")
      ->check(CLI::IsMember({"none", "covariate", "prior", "concept"}))
      ->capture_default_str();
  synth
      ->add_option("--drift-at", o->drift_at,
                   "fraction of the period where the drift starts (default: where oot starts)")
      ->check(CLI::Range(0.0, 0.999999));
  add_write_options(*synth, o->write);
  synth->add_flag("--json", *json, "print the summary as JSON on stdout");
  synth->callback([o, json] {
    auto start = std::chrono::steady_clock::now();
    auto summary = data::synthesize(*o);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::ordered_json out = {
        {"out", o->out}, {"preset", o->preset}, {"seed", o->seed}, {"seconds", seconds}};
    if (o->drift != "none")
      out["drift"] = {{"kind", o->drift},
                      {"at", o->drift_at < 0 ? 1 - o->oot_fraction : o->drift_at},
                      {"columns", o->drift == "covariate" ? data::synth_drift_columns(o->preset)
                                                          : std::vector<std::string>{}}};
    for (const auto& [split, s] : summary) {
      out["splits"][split] = {{"path", o->out + "/" + split},
                              {"rows", s.rows},
                              {"positives", s.positives},
                              {"shards", s.shards},
                              {"fingerprint", s.fingerprint}};
    }
    if (*json) {
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::printf("wrote %s (%s preset, seed %llu) in %.1f s\n", o->out.c_str(), o->preset.c_str(),
                static_cast<unsigned long long>(o->seed), seconds);
    if (out.contains("drift"))
      std::printf("  %s drift from %.3g of the period on%s%s\n", o->drift.c_str(),
                  out["drift"]["at"].get<double>(), o->drift == "covariate" ? ": " : "",
                  o->drift == "covariate" ? out["drift"]["columns"].dump().c_str() : "");
    for (const char* split : {"train", "valid", "test", "oot"}) {
      if (!summary.count(split)) continue;
      const auto& s = summary.at(split);
      std::printf("  %-6s %10lld rows  %8lld positives (%.2f%%)  %3d shards  %s\n", split,
                  static_cast<long long>(s.rows), static_cast<long long>(s.positives),
                  100.0 * static_cast<double>(s.positives) / static_cast<double>(s.rows), s.shards,
                  s.fingerprint.substr(0, 16).c_str());
    }
  });
}

void add_matrix_options(CLI::App& command, data::MatrixLayout& matrix) {
  command
      .add_option("--matrix-features", matrix.features,
                  "h5py-style layout: the 2-D feature dataset")
      ->capture_default_str();
  command.add_option("--matrix-label", matrix.label, "h5py-style layout: the 1-D label dataset")
      ->capture_default_str();
}

void add_inspect(CLI::App& data) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto verify = std::make_shared<bool>(false);
  auto matrix = std::make_shared<data::MatrixLayout>();
  CLI::App* inspect = data.add_subcommand(
      "inspect",
      "Describe a dataset (directory with dataset.json, an HDF5 file, or a directory of h5py-style "
      "files): schema, rows, shards, chunking, filters, fingerprint, and per column the missing %, "
      "min/max/mean, quartiles and top categories (one pass over the data).");
  inspect->add_option("path", *path, "dataset directory or HDF5 file")->required();
  inspect->add_flag("--json", *json, "print JSON on stdout");
  inspect->add_flag("--verify", *verify, "also check every shard's SHA-256 against dataset.json");
  add_matrix_options(*inspect, *matrix);
  inspect->callback([path, json, verify, matrix] {
    auto dataset = data::Dataset::open(*path, *matrix);
    if (*verify) dataset->verify_checksums();
    auto description = data::describe(*dataset, data::compute_stats(*dataset));
    std::cout << (*json ? description.dump(2) + "\n" : data::describe_text(description));
  });
}

void add_profile(CLI::App& data) {
  auto path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto options = std::make_shared<data::ProfileOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* profile = data.add_subcommand(
      "profile",
      "Write a dataset's reference profile for drift checks (docs/MONITORING.md): per numeric "
      "column counts (missing, +Inf, -Inf), mean, variance, the quantile function from a "
      "mergeable sketch with its rank error, and exact counts on bins cut at its own "
      "quantiles; per categorical column the counts of its most frequent codes. Two streaming "
      "passes, the columns in parallel.");
  profile->add_option("path", *path, "dataset directory or HDF5 file")->required();
  profile->add_option("--out", *out, "profile.json to write (atomically)")->required();
  profile->add_option("--bins", options->bins, "histogram bins per numeric column")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  profile
      ->add_option("--top-codes", options->top_codes,
                   "categorical codes counted one by one (the rest as other)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  profile->add_flag("--json", *json, "print the profile on stdout");
  profile->callback([path, out, options, json] {
    auto dataset = data::Dataset::open(*path);
    const data::Profile p = data::profile_dataset(*dataset, *options);
    p.write(*out);
    if (*json) {
      std::cout << p.to_json().dump(1) << "\n";
      return;
    }
    std::printf("profiled %lld rows, %zu columns of %s: %s\n", static_cast<long long>(p.rows),
                p.columns.size(), path->c_str(), out->c_str());
  });
}

void add_validate(CLI::App& data) {
  auto path = std::make_shared<std::string>();
  auto schema = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto matrix = std::make_shared<data::MatrixLayout>();
  CLI::App* validate = data.add_subcommand(
      "validate",
      "Check a dataset against a schema file (JSON with a \"columns\" list, as in dataset.json) "
      "and read every byte: lists every mismatch (missing, extra or mistyped columns, checksums, "
      "corrupt chunks, bad labels) and exits 65 when there is any.");
  validate->add_option("path", *path, "dataset directory or HDF5 file")->required();
  validate->add_option("--schema", *schema, "schema file (a dataset.json works)")->required();
  validate->add_flag("--json", *json, "print {ok, problems} as JSON on stdout");
  add_matrix_options(*validate, *matrix);
  validate->callback([path, schema, json, matrix] {
    data::Schema expected = data::read_schema_file(*schema);
    expected.validate(*schema);
    std::vector<std::string> problems = data::validate_dataset(*path, expected, *matrix);
    if (*json) {
      std::cout << nlohmann::ordered_json{{"path", *path},
                                          {"ok", problems.empty()},
                                          {"problems", problems}}
                       .dump(2)
                << "\n";
    } else {
      for (const auto& p : problems)
        std::cout << "mismatch: " << p << "\n";
      if (problems.empty()) std::cout << *path << ": valid against " << *schema << "\n";
    }
    KILN_CHECK(problems.empty(), DataError, *path, ": ", problems.size(), " problem(s) against ",
               *schema, "; first: ", problems.front());
  });
}

void add_import(CLI::App& data) {
  auto o = std::make_shared<data::CsvImportOptions>();
  auto on_bad_row = std::make_shared<std::string>("fail");
  auto json = std::make_shared<bool>(false);
  CLI::App* import = data.add_subcommand(
      "import",
      "Import CSV files (gzip-compressed too) into a dataset, streaming: header row, RFC 4180 "
      "quotes, missing values (empty, NA, NaN, null, --missing-value), types inferred "
      "(numeric, else categorical with its dictionary saved) unless --role, --schema or "
      "--like gives roles, the label mapped to 0/1 (--positive). Prints rows read, written and "
      "rejected.");
  import
      ->add_option("--csv", o->files,
                   "CSV file (or .csv.gz); repeat for several with the same header")
      ->required()
      ->type_name("FILE");
  import->add_option("--out", o->out, "dataset directory to create")->required();
  import->add_option("--label", o->label,
                     "the label column (without it: --schema's or --like's, if the file has it; "
                     "else none, as in data to score or to check for drift)");
  import->add_option(
      "--schema", o->schema_file,
      "JSON {\"columns\": [{\"name\", \"role\"}, ...]} fixing the roles of some columns (role "
      "time: seconds since the epoch or ISO 8601 text, no offset meaning UTC)");
  import
      ->add_option("--role", o->roles,
                   "COLUMN=ROLE (numeric, categorical, weight, id or time), repeatable: a "
                   "column's role without a --schema file, over the file's; with --like, for "
                   "columns it does not have (an id column of rows to score)")
      ->type_name("COLUMN=ROLE");
  import->add_option("--like", o->like,
                     "a dataset imported before (the train split), or a model (checkpoint, run "
                     "or registry:NAME@ALIAS|/vN: its training data's): take its roles and "
                     "its categorical codes, so that a string has the same code in both");
  auto registry = std::make_shared<std::string>();
  import->add_option("--registry", *registry,
                     "registry of a registry: --like (default $KILN_REGISTRY, else registry/)");
  import->add_option("--positive", o->positive, "the label value that means 1 (others mean 0)");
  import->add_option("--valid-out", o->valid_out,
                     "cut a validation split from the rows into this dataset directory (the "
                     "same roles and codes as --out)");
  import
      ->add_option("--valid-fraction", o->valid_fraction,
                   "with --valid-out: the share of each label value's rows it gets, at random")
      ->default_val(0.2);
  import->add_option("--split-seed", o->split_seed, "with --valid-out: the draw's seed")
      ->default_val(0);
  import
      ->add_option("--missing-value", o->missing_values,
                   "a text that means missing besides empty, NA, NaN and null (e.g. '?'); "
                   "repeat for several")
      ->type_name("TEXT");
  import->add_option("--on-bad-row", *on_bad_row, "fail (exit 65 naming file and line) or skip")
      ->check(CLI::IsMember({"fail", "skip"}))
      ->capture_default_str();
  import->add_option("--reject-file", o->reject_file,
                     "where skipped rows go (default <out>/rejects.csv)");
  import->add_option("--rows-per-shard", o->rows_per_shard, "rows per shard")
      ->capture_default_str();
  add_write_options(*import, o->write);
  import->add_flag("--json", *json, "print the summary as JSON on stdout");
  import->callback([o, on_bad_row, json, registry] {
    o->skip_bad_rows = *on_bad_row == "skip";
  if (!o->like.empty() && trainer::names_a_model(o->like)) {
    const std::string model = registry::resolve_model(o->like, *registry).path;
    o->like_checkpoint = core::verify_checkpoint(core::model_checkpoint(model)).path;
  }
  data::CsvImportSummary s = data::import_csv(*o);
  nlohmann::ordered_json columns = nlohmann::ordered_json::array();
  for (const auto& c : s.manifest.schema.columns) {
    columns.push_back(
        {{"name", c.name}, {"role", data::role_name(c.role)}, {"cardinality", c.cardinality}});
  }
  nlohmann::ordered_json out = {{"out", o->out},
                                {"rows_read", s.rows_read},
                                {"rows_written", s.rows_written},
                                {"rows_rejected", s.rows_rejected},
                                {"valid_out", o->valid_out},
                                {"valid_rows", s.valid_rows},
                                {"reject_file", s.reject_file},
                                {"label_map", s.label_map},
                                {"renamed", s.renamed},
                                {"columns", columns},
                                {"time_like", s.time_like},
                                {"text_in_numbers", s.text_in_numbers},
                                {"fingerprint", s.manifest.fingerprint}};
  if (*json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::printf("imported %s: %lld rows read, %lld written, %lld rejected%s%s\n", o->out.c_str(),
              static_cast<long long>(s.rows_read), static_cast<long long>(s.rows_written),
              static_cast<long long>(s.rows_rejected), s.reject_file.empty() ? "" : " -> ",
              s.reject_file.c_str());
  if (!o->valid_out.empty())
    std::printf("  %lld rows to the validation split %s\n", static_cast<long long>(s.valid_rows),
                o->valid_out.c_str());
  for (const auto& [header, name] : s.renamed) {
    std::printf("  column '%s' -> %s\n", header.c_str(), name.c_str());
  }
  for (const auto& [text, value] : s.label_map) {
    std::printf("  label '%s' -> %g\n", text.c_str(), value);
  }
  for (const auto& c : s.manifest.schema.columns) {
    std::printf("  %-24s %s%s\n", c.name.c_str(), std::string(data::role_name(c.role)).c_str(),
                c.role == data::Role::kCategorical
                    ? (" (" + std::to_string(c.cardinality) + " values)").c_str()
                    : "");
  }
  for (const auto& [name, texts] : s.text_in_numbers) {
    std::string quoted, options;
    for (const auto& text : texts) {
      quoted += (quoted.empty() ? "'" : ", '") + text + "'";
      options += " --missing-value " + core::shell_word(text);
    }
    std::printf(
        "  note: '%s' is categorical for a few texts among its numbers (%s): if they mean "
        "missing, import again with%s\n",
        name.c_str(), quoted.c_str(), options.c_str());
  }
  for (const auto& name : s.time_like) {
    std::string header = name;  // --role takes the CSV's name
    for (const auto& [from, to] : s.renamed)
      if (to == name) header = from;
    std::printf(
        "  note: '%s' holds ISO 8601 dates or times only, which seldom recur in later data: give "
        "it the role time with %s (kiln drift --by cuts windows on it), or leave it out of "
        "training with %s\n",
        name.c_str(), core::shell_word("--role=" + header + "=time").c_str(),
        core::shell_word("+transform.columns." + name + "=[drop]").c_str());
  }
});
}  // namespace

}  // namespace kiln::cli

void add_data_command(CLI::App& app) {
  CLI::App* data = app.add_subcommand(
      "data",
      "Create, import, inspect and validate HDF5 datasets; fit and apply feature transforms");
  data->require_subcommand(1);
  add_synth(*data);
  add_import(*data);
  add_inspect(*data);
  add_profile(*data);
  add_validate(*data);
  add_transform_commands(*data);
}

}  // namespace kiln::cli
