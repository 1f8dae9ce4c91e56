#include "data/synth.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <functional>
#include <vector>

#include "core/errors.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "data/random.h"

namespace kiln::data {
namespace {

// A counter-based stream: row r of seed s always draws the same numbers.
class RowRng {
 public:
  RowRng(uint64_t seed, uint64_t row, uint64_t stream)
      : state_(mix64(seed ^ mix64(row ^ mix64(stream + 0x5851f42d4c957f2dull)))) {}
  uint64_t next() { return mix64(state_++); }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  double normal() {
    double u = uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  double lognormal(double mu, double sigma) { return std::exp(mu + sigma * normal()); }
  double exponential(double mean) { return -mean * std::log(uniform()); }
  double student_t3() {  // heavy tails
    double z = normal(), c = 0;
    for (int i = 0; i < 3; ++i) {
      double g = normal();
      c += g * g;  // chi-square with 3 degrees of freedom
    }
    return z / std::sqrt(c / 3.0);
  }
  int64_t poisson(double lambda) {
    double l = std::exp(-lambda), p = 1.0;
    int64_t k = 0;
    do {
      ++k;
      p *= uniform();
    } while (p > l && k < 1000);
    return k - 1;
  }
  bool chance(double p) { return uniform() < p; }

 private:
  uint64_t state_;
};

// Zipf(s) over 0..n-1 by inverting a precomputed CDF.
class Zipf {
 public:
  Zipf(int64_t n, double s) : cdf_(static_cast<std::size_t>(n)) {
    double total = 0;
    for (int64_t i = 0; i < n; ++i)
      cdf_[static_cast<std::size_t>(i)] = total += std::pow(i + 1.0, -s);
    for (double& c : cdf_)
      c /= total;
  }
  int32_t draw(RowRng& rng) const {
    auto it = std::lower_bound(cdf_.begin(), cdf_.end(), rng.uniform());
    return static_cast<int32_t>(std::min<std::ptrdiff_t>(it - cdf_.begin(), cdf_.size() - 1));
  }
  int64_t size() const { return static_cast<int64_t>(cdf_.size()); }

 private:
  std::vector<double> cdf_;
};

double sigmoid(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}
double hashed_effect(uint64_t seed, uint64_t salt, int32_t code, double share, double size) {
  // A fixed random subset (`share`) of the categories carries an effect of `size`.
  uint64_t h = mix64(seed * 31 + salt * 1000003 + static_cast<uint64_t>(code));
  return static_cast<double>(h >> 11) * 0x1.0p-53 < share ? size : 0.0;
}

constexpr int64_t kStart = 1700000000;    // 2023-11-14, seconds since the epoch
constexpr int64_t kPeriod = 180 * 86400;  // six months

// One preset: its columns and a row generator that fills numeric, categorical values and
// returns the latent log-odds without the intercept. `shifted` draws the drift_columns from
// their covariate-drift distributions.
struct Preset {
  std::vector<std::string> numeric;
  std::vector<std::pair<std::string, int64_t>> categorical;  // name, cardinality
  std::vector<std::string> drift_columns;
  std::function<double(RowRng&, int64_t ts, float* num, int32_t* cat, uint64_t seed, bool shifted)>
      row;
};

float maybe_missing(RowRng& rng, double p, double v) {
  return rng.chance(p) ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(v);
}

Preset fraud_preset() {
  Preset p;
  p.numeric = {
      "amount",       "hour",        "account_age_days", "tx_count_24h",  "amount_ratio_30d",
      "distance_km",  "device_risk", "ip_risk",          "failed_logins", "session_seconds",
      "card_present", "noise_0",     "noise_1",          "noise_2"};
  p.categorical = {{"merchant", 20000}, {"mcc", 400}, {"country", 150}, {"device_type", 8}};
  std::vector<Zipf> zipf;
  for (auto& [name, n] : p.categorical) {
    zipf.emplace_back(n, name == "device_type" ? 0.5 : name == "country" ? 1.3 : 1.05);
  }
  p.drift_columns = {"amount", "device_risk", "country"};
  p.row = [zipf](RowRng& r, int64_t ts, float* x, int32_t* c, uint64_t seed, bool shifted) {
    double amount = r.lognormal(shifted ? 4.3 : 3.6, 1.25);
    if (r.chance(0.001)) amount *= 50;  // outliers
    double hour = static_cast<double>((ts / 3600 + static_cast<int64_t>(r.normal() * 2)) % 24);
    if (hour < 0) hour += 24;
    double age = r.exponential(400);
    double tx24 = static_cast<double>(r.poisson(r.chance(0.05) ? 12 : 2.5));
    double ratio = std::exp(r.normal() * 0.9) * (r.chance(0.02) ? 6 : 1);
    double distance = r.lognormal(3.0, 1.6);
    double device = std::pow(r.uniform(), shifted ? 1.0 : 2.5);
    double ip = r.uniform();
    double failed = static_cast<double>(r.poisson(0.3));
    double session = r.lognormal(5.0, 1.0);
    double present = r.chance(0.55) ? 1 : 0;
    x[0] = static_cast<float>(amount);
    x[1] = static_cast<float>(hour);
    x[2] = static_cast<float>(age);
    x[3] = static_cast<float>(tx24);
    x[4] = static_cast<float>(ratio);
    x[5] = maybe_missing(r, 0.08, distance);
    x[6] = maybe_missing(r, 0.05, device);
    x[7] = static_cast<float>(ip);
    x[8] = static_cast<float>(failed);
    x[9] = maybe_missing(r, 0.02, session);
    x[10] = static_cast<float>(present);
    x[11] = static_cast<float>(r.student_t3());
    x[12] = static_cast<float>(r.normal());
    x[13] = static_cast<float>(r.uniform());
    for (std::size_t j = 0; j < zipf.size(); ++j)
      c[j] = zipf[j].draw(r);
    if (shifted) c[2] = (c[2] + 5) % 150;  // other countries are the common ones
    if (r.chance(0.03)) c[2] = -1;         // missing country
    bool online = hashed_effect(seed, 7, c[1], 0.4, 1.0) > 0;
    bool night = hour < 5 || hour >= 23;
    double z = 0;
    z += 1.8 * (ratio > 3.0 && age < 60);                           // new account, unusual amount
    z += 1.3 * (night && device > 0.5);                             // risky device at night
    z += 0.9 * (distance > 400 && distance < 4000);                 // non-monotone distance
    z += hashed_effect(seed, 1, c[0], 0.03, 2.2);                   // a few bad merchants
    z += c[2] >= 0 ? hashed_effect(seed, 2, c[2], 0.1, 1.0) : 0.4;  // risky countries
    z += 1.0 * ((present > 0.5) != online);                         // XOR interaction
    z += 0.8 * std::tanh(tx24 - 6);
    z += 2.5 * (ip - 0.5) * (ip - 0.5) * 4 - 0.8;  // quadratic
    z += 0.6 * failed * (device > 0.3);
    z += 0.25 * std::log(amount / 40.0);
    return z;
  };
  return p;
}

Preset credit_preset() {
  Preset p;
  p.numeric = {"income",
               "debt_ratio",
               "utilization",
               "age",
               "late_30",
               "late_60",
               "late_90",
               "open_lines",
               "employment_years",
               "loan_amount",
               "months_since_delinquency",
               "noise_0"};
  p.categorical = {{"employer", 30000}, {"purpose", 14}, {"state", 50}, {"home_ownership", 4}};
  std::vector<Zipf> zipf;
  for (auto& [name, n] : p.categorical)
    zipf.emplace_back(n, name == "employer" ? 1.1 : 0.9);
  p.drift_columns = {"income", "utilization", "purpose"};
  p.row = [zipf](RowRng& r, int64_t, float* x, int32_t* c, uint64_t seed, bool shifted) {
    double income = r.lognormal(shifted ? 10.4 : 10.8, 0.6);
    double debt = std::abs(r.normal() * 0.25 + 0.3) * (r.chance(0.01) ? 20 : 1);
    double util = std::pow(r.uniform(), shifted ? 0.4 : 0.8) * (r.chance(0.02) ? 3 : 1);
    double age = std::clamp(21 + r.exponential(18), 18.0, 95.0);
    double late30 = static_cast<double>(r.poisson(0.35));
    double late60 = static_cast<double>(r.poisson(late30 * 0.2));
    double late90 = static_cast<double>(r.poisson(late60 * 0.3));
    double lines = static_cast<double>(r.poisson(8));
    double employed = r.exponential(6);
    double loan = r.lognormal(9.2, 0.8);
    bool delinquent = late30 > 0;
    x[0] = maybe_missing(r, 0.12, income);
    x[1] = static_cast<float>(debt);
    x[2] = static_cast<float>(util);
    x[3] = static_cast<float>(age);
    x[4] = static_cast<float>(late30);
    x[5] = static_cast<float>(late60);
    x[6] = static_cast<float>(late90);
    x[7] = static_cast<float>(lines);
    x[8] = maybe_missing(r, 0.05, employed);
    x[9] = static_cast<float>(loan);
    x[10] = delinquent ? static_cast<float>(r.exponential(20))
                       : std::numeric_limits<float>::quiet_NaN();
    x[11] = static_cast<float>(r.student_t3());
    for (std::size_t j = 0; j < zipf.size(); ++j)
      c[j] = zipf[j].draw(r);
    if (shifted) c[1] = (c[1] + 3) % 14;  // other purposes are the common ones
    double z = 0;
    z += 1.4 * (util > 0.8) + 0.8 * (util > 1.0);
    z += 1.2 * std::tanh(late90) + 0.6 * std::tanh(late60) + 0.3 * late30;
    z += 1.5 * (debt > 0.6 && income < 40000);           // interaction
    z += 0.9 * (loan / income > 0.5);                    // ratio feature
    z += 0.8 * ((age - 45) * (age - 45) / 400.0) - 0.8;  // U-shaped age
    z += hashed_effect(seed, 11, c[0], 0.02, 2.0);       // risky employers
    z += hashed_effect(seed, 12, c[1], 0.3, 0.7);
    z += 0.7 * (c[3] == 2) * (employed < 1.0);  // renters, new job
    return z;
  };
  return p;
}

Preset make_preset(const std::string& name) {
  if (name == "fraud") return fraud_preset();
  if (name == "credit") return credit_preset();
  throw ConfigError("--preset must be fraud or credit, got '" + name + "'");
}

enum class Drift { kNone, kCovariate, kPrior, kConcept };

Drift parse_drift(const std::string& name) {
  if (name == "none") return Drift::kNone;
  if (name == "covariate") return Drift::kCovariate;
  if (name == "prior") return Drift::kPrior;
  if (name == "concept") return Drift::kConcept;
  throw ConfigError("--drift must be none, covariate, prior or concept, got '" + name + "'");
}

enum Split { kTrain, kValid, kTest, kOot };
constexpr const char* kSplitNames[] = {"train", "valid", "test", "oot"};

Split split_of(const SynthOptions& o, int64_t row) {
  if (static_cast<double>(row) >= static_cast<double>(o.rows) * (1.0 - o.oot_fraction)) return kOot;
  double u = static_cast<double>(
                 mix64(static_cast<uint64_t>(row) * 0x2545f4914f6cdd1dull + o.seed) >> 11) *
             0x1.0p-53;
  if (u < o.valid_fraction) return kValid;
  if (u < o.valid_fraction + o.test_fraction) return kTest;
  return kTrain;
}

int64_t timestamp(const SynthOptions& o, int64_t row, RowRng& rng) {
  double t = (static_cast<double>(row) + rng.uniform()) / static_cast<double>(o.rows);
  return kStart + static_cast<int64_t>(t * kPeriod);
}

// The intercept that makes the mean probability equal the target rate, on a sample.
double calibrate(const SynthOptions& o, Preset& preset) {
  int64_t sample = std::min<int64_t>(o.rows, 40000);
  std::vector<double> z(static_cast<std::size_t>(sample));
  std::vector<float> num(preset.numeric.size());
  std::vector<int32_t> cat(preset.categorical.size());
  for (int64_t i = 0; i < sample; ++i) {
    int64_t row = i * (o.rows / sample);
    RowRng rng(o.seed, static_cast<uint64_t>(row), 0);
    int64_t ts = timestamp(o, row, rng);
    z[static_cast<std::size_t>(i)] = preset.row(rng, ts, num.data(), cat.data(), o.seed, false);
  }
  double lo = -30, hi = 30;
  for (int iter = 0; iter < 100; ++iter) {
    double mid = (lo + hi) / 2, mean = 0;
    for (double v : z)
      mean += sigmoid(mid + v);
    mean /= static_cast<double>(sample);
    (mean < o.positive_rate ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

}  // namespace

std::vector<std::string> synth_presets() {
  return {"fraud", "credit"};
}

std::vector<std::string> synth_drift_columns(const std::string& preset) {
  return make_preset(preset).drift_columns;
}

std::map<std::string, SplitSummary> synthesize(const SynthOptions& o) {
  KILN_CHECK(o.rows >= 100, ConfigError, "--rows must be at least 100, got ", o.rows);
  KILN_CHECK(o.shards >= 1 && o.shards <= 100000, ConfigError, "--shards must be 1..100000, got ",
             o.shards);
  KILN_CHECK(o.positive_rate > 0 && o.positive_rate < 1, ConfigError,
             "--positive-rate must be in (0, 1), got ", o.positive_rate);
  KILN_CHECK(o.label_noise >= 0 && o.label_noise < 0.5, ConfigError,
             "--label-noise must be in [0, 0.5), got ", o.label_noise);
  KILN_CHECK(o.valid_fraction >= 0 && o.test_fraction >= 0 && o.oot_fraction >= 0 &&
                 o.valid_fraction + o.test_fraction < 1 && o.oot_fraction < 1,
             ConfigError, "split fractions must be non-negative and leave rows for training");
  const Drift drift = parse_drift(o.drift);
  KILN_CHECK(o.drift_at < 1, ConfigError, "--drift-at must be below 1, got ", o.drift_at);
  const double drift_at = o.drift_at < 0 ? 1.0 - o.oot_fraction : o.drift_at;
  Preset preset = make_preset(o.preset);
  const double intercept = calibrate(o, preset);
  // Prior drift: negatives kept with this probability make the positive rate `target`.
  const double target = std::min(0.5, 3 * o.positive_rate);
  const double accept_negative = o.positive_rate * (1 - target) / ((1 - o.positive_rate) * target);

  Schema schema;
  schema.columns.push_back({"row_id", Role::kId, 0});
  schema.columns.push_back({"ts", Role::kTime, 0});
  for (const auto& n : preset.numeric)
    schema.columns.push_back({n, Role::kNumeric, 0});
  for (const auto& [n, card] : preset.categorical)
    schema.columns.push_back({n, Role::kCategorical, card});
  schema.columns.push_back({"label", Role::kLabel, 0});
  const std::size_t n_num = preset.numeric.size(), n_cat = preset.categorical.size();

  // Exact rows per split first (cheap: hashes only), so the train split gets `shards` shards.
  std::array<int64_t, 4> split_rows{};
  for (int64_t row = 0; row < o.rows; ++row)
    ++split_rows[split_of(o, row)];
  const int64_t per_shard = std::max<int64_t>(1, (split_rows[kTrain] + o.shards - 1) / o.shards);

  std::vector<std::unique_ptr<DatasetWriter>> writers(4);
  for (int s = 0; s < 4; ++s) {
    if (split_rows[s] == 0) continue;
    writers[s] = std::make_unique<DatasetWriter>(
        (std::filesystem::path(o.out) / kSplitNames[s]).string(), schema, o.write, per_shard);
  }

  // Columnar buffers per split, flushed in blocks.
  constexpr int64_t kBlock = 65536;
  struct Buffer {
    std::vector<int64_t> id, ts;
    std::vector<std::vector<float>> num;
    std::vector<std::vector<int32_t>> cat;
    std::vector<float> label;
    int64_t positives = 0;
  };
  std::array<Buffer, 4> buffers;
  for (auto& b : buffers) {
    b.num.resize(n_num);
    b.cat.resize(n_cat);
  }
  auto flush = [&](int s) {
    Buffer& b = buffers[s];
    if (b.id.empty()) return;
    std::vector<const void*> cols{b.id.data(), b.ts.data()};
    for (auto& v : b.num)
      cols.push_back(v.data());
    for (auto& v : b.cat)
      cols.push_back(v.data());
    cols.push_back(b.label.data());
    writers[s]->append(static_cast<int64_t>(b.id.size()), cols);
    b.id.clear();
    b.ts.clear();
    for (auto& v : b.num)
      v.clear();
    for (auto& v : b.cat)
      v.clear();
    b.label.clear();
  };

  std::vector<float> num(n_num);
  std::vector<int32_t> cat(n_cat);
  core::ProgressBar progress("synth " + o.preset, o.rows);
  for (int64_t row = 0; row < o.rows; ++row) {
    if (row % kBlock == 0) progress.update(row, "rows");
    const bool drifted =
        drift != Drift::kNone && static_cast<double>(row) >= drift_at * static_cast<double>(o.rows);
    int64_t ts = 0;
    bool positive = false;
    // A prior drift draws the row again (another stream) until its label is accepted.
    for (uint64_t attempt = 0;; ++attempt) {
      RowRng rng(o.seed, static_cast<uint64_t>(row), attempt);
      ts = timestamp(o, row, rng);
      const double z = preset.row(rng, ts, num.data(), cat.data(),
                                  drifted && drift == Drift::kConcept ? ~o.seed : o.seed,
                                  drifted && drift == Drift::kCovariate);
      positive = rng.chance(sigmoid(intercept + z));
      if (!drifted || drift != Drift::kPrior || positive || rng.chance(accept_negative) ||
          attempt == 1000) {
        if (rng.chance(o.label_noise)) positive = !positive;
        break;
      }
    }
    int s = split_of(o, row);
    Buffer& b = buffers[s];
    b.id.push_back(row);
    b.ts.push_back(ts);
    for (std::size_t j = 0; j < n_num; ++j)
      b.num[j].push_back(num[j]);
    for (std::size_t j = 0; j < n_cat; ++j)
      b.cat[j].push_back(cat[j]);
    b.label.push_back(positive ? 1.0f : 0.0f);
    b.positives += positive;
    if (static_cast<int64_t>(b.id.size()) == kBlock) flush(s);
  }

  progress.update(o.rows, "rows");
  progress.finish();
  std::map<std::string, SplitSummary> summary;
  for (int s = 0; s < 4; ++s) {
    if (!writers[s]) continue;
    flush(s);
    DatasetManifest m = writers[s]->finish();
    summary[kSplitNames[s]] = {m.rows, buffers[s].positives, static_cast<int>(m.shards.size()),
                               m.fingerprint};
  }
  return summary;
}

}  // namespace kiln::data
