// Realistic synthetic tabular data for demos, tests and benchmarks (kiln data synth).
//
// Rows are generated one at a time from a counter-based random stream keyed by
// (seed, row index), so the data depends only on the options, not on block sizes, and is
// written in blocks: memory stays bounded whatever the row count. Each row goes to one
// split: rows whose time falls in the latest `oot_fraction` of the period form the
// out-of-time split "oot"; the others go to "train", "valid" or "test" by a hash of the
// row id. The label depends non-linearly on the features and their interactions
// (thresholds, products, non-monotone terms, high-cardinality category effects), so a
// non-linear model clearly beats logistic regression; then each label is flipped with
// probability `label_noise`.
//
// A drift scenario changes the rows from `drift_at` of the period on (by default where the
// oot split starts), so drift checks have data whose drift is known:
//   covariate  the inputs' distribution moves for the preset's drift_columns (fraud: amount,
//              device_risk, country; credit: income, utilization, purpose) and the label
//              follows from the same mechanism: P(y | x) is unchanged;
//   prior      the positive rate is three times the rate (at most 0.5) while P(x | y) is
//              unchanged (rows are drawn until their label is accepted);
//   concept    P(y | x) changes (other categories carry the risk) while P(x) is unchanged.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "data/shard.h"

namespace kiln::data {

struct SynthOptions {
  std::string out;               // directory that receives train/, valid/, test/, oot/
  int64_t rows = 100000;         // rows in all splits together
  int shards = 4;                // shards of the train split; the others get proportionally fewer
  uint64_t seed = 0;             // everything is a function of the seed
  std::string preset = "fraud";  // fraud or credit
  double positive_rate = 0.02;   // target rate of positive labels before noise
  double label_noise = 0.002;    // probability that a label is flipped
  double valid_fraction = 0.15;  // of the in-time rows
  double test_fraction = 0.15;   // of the in-time rows
  double oot_fraction = 0.10;    // latest rows by time
  std::string drift = "none";    // none, covariate, prior or concept (above)
  double drift_at = -1;          // fraction of the period where drift starts; < 0: where oot does
  ShardWriteOptions write;       // chunking and filters of the shards
};

struct SplitSummary {
  int64_t rows = 0;
  int64_t positives = 0;
  int shards = 0;
  std::string fingerprint;
};

// Writes the four datasets; returns a summary per split name. Throws ConfigError for bad
// options, OutputError when the output cannot be written (or already holds datasets).
std::map<std::string, SplitSummary> synthesize(const SynthOptions& options);

// The presets' column lists, for documentation and tests.
std::vector<std::string> synth_presets();

// The columns a covariate drift moves in a preset.
std::vector<std::string> synth_drift_columns(const std::string& preset);

}  // namespace kiln::data
