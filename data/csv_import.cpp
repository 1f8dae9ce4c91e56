#include "data/csv_import.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>

#include "core/errors.h"
#include "core/progress.h"
#include "core/utf8.h"
#include "data/csv.h"
#include "data/inspect.h"
#include "data/profile.h"

namespace kiln::data {
namespace {

// Empty, NA, NaN or null (any case), or one of `more` (the options' missing_values, exact).
bool is_missing(const std::string& s, const std::vector<std::string>& more) {
  // Letters only: c | 0x20 is c's lower case, and no other byte gives a lower-case letter.
  auto is = [&](std::string_view lower) {
    return s.size() == lower.size() && std::equal(s.begin(), s.end(), lower.begin(),
                                                  [](char c, char l) { return (c | 0x20) == l; });
  };
  return s.empty() || is("na") || is("nan") || is("null") ||
         (!more.empty() && std::find(more.begin(), more.end(), s) != more.end());
}

// `s` without the spaces, tabs and carriage returns around it.
std::string_view trimmed(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

// An integer of at most 9e15 in magnitude (exact in a double), as parse_number reads it.
std::optional<int64_t> parse_integer(std::string_view s) {
  const std::optional<double> number = parse_number(s);
  if (!number || *number != std::floor(*number) || std::abs(*number) > 9.0e15) return std::nullopt;
  return static_cast<int64_t>(*number);
}

// The n digits at s[at...] as a number, or -1 when they are not n digits.
int digits(std::string_view s, std::size_t at, std::size_t n) {
  if (at + n > s.size()) return -1;
  int value = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

// float32 of a double; values beyond float32's range become +-Inf (a plain cast would be
// undefined behaviour).
float to_float(double value) {
  constexpr double kMax = std::numeric_limits<float>::max();
  if (value > kMax) return std::numeric_limits<float>::infinity();
  if (value < -kMax) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(value);
}

// Kiln column names are [A-Za-z0-9_.-]{1,128}: anything else in a CSV header becomes '_'.
std::string column_name(const std::string& header) {
  std::string name = header.substr(0, 128);
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.')
      ch = '_';
  }
  return name.empty() ? "_" : name;
}

// Why `field` is not UTF-8, and what to do; "" when it is.
std::string csv_utf8_fault(const std::string& field) {
  const std::string fault = core::utf8_fault(field);
  return fault.empty() ? fault
                       : fault + "; convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8";
}

// What makes a record unusable before its values are read (the reader's `error`, a field
// count other than the header's, a field that is not UTF-8); "" when nothing does.
std::string record_fault(const CsvRecord& record, const std::vector<std::string>& header) {
  const std::vector<std::string>& fields = record.fields;
  if (!record.error.empty()) return record.error;
  if (fields.size() != header.size())
    return detail::concat("expected ", header.size(), " fields, found ", fields.size());
  // The fields are the record's text cut at ASCII bytes: valid when the text is.
  if (record.utf8) return "";
  for (std::size_t c = 0; c < fields.size(); ++c) {
    const std::string fault = csv_utf8_fault(fields[c]);
    if (!fault.empty()) return detail::concat("column '", header[c], "': ", fault);
  }
  return "";
}

// A bad row fails the import unless bad rows are skipped.
void fail_unless_skipping(bool skip_bad_rows, const std::string& file, int64_t line,
                          const std::string& fault) {
  KILN_CHECK(skip_bad_rows, DataError, file, ":", line, ": ", fault,
             " (use --on-bad-row skip to count and set such rows aside)");
}

struct ColumnPlan {
  std::string name;
  Role role = Role::kNumeric;
  bool fixed = false;                    // role given by the schema file
  bool all_numeric = true;               // pass 1: every non-missing value parsed
  bool seen_number = false;              // pass 1: a number came before the first text
  bool all_times = true;                 // pass 1: every string collected is an ISO 8601 time
  int64_t numbers = 0, texts = 0;        // pass 1, inferred roles: values of each kind
  std::vector<std::string> first_texts;  // pass 1, inferred roles: up to 3 distinct texts
  std::unordered_map<std::string, int32_t> codes;
  std::vector<std::string> dictionary;

  // Whether pass 1 collects the column's strings: a categorical column's, or those after the
  // first text of a column whose role is inferred (a column of numbers keeps none).
  bool collects() const { return fixed ? role == Role::kCategorical : !all_numeric; }
  // Gives `value` the next code unless it has one (or the dictionary is full: pass 2 says so).
  void add(const std::string& value) {
    if (dictionary.size() < (1u << 24) &&
        codes.emplace(value, static_cast<int32_t>(dictionary.size())).second)
      dictionary.push_back(value);
  }
};

// One dataset pass 2 writes: its writer and the block of rows being filled.
struct Output {
  static constexpr std::size_t kBlock = 65536;
  DatasetWriter writer;
  ColumnBuffers buffers;
  std::vector<const void*> columns;
  std::size_t filled = 0;

  Output(const std::string& dir, const Schema& schema, const std::vector<ColumnPlan>& plan,
         const CsvImportOptions& o)
      : writer(dir, schema, o.write, o.rows_per_shard),
        buffers(schema, kBlock),
        columns(buffers.pointers().begin(), buffers.pointers().end()) {
    for (const ColumnPlan& p : plan)
      if (p.role == Role::kCategorical) writer.set_dictionary(p.name, p.dictionary);
  }
  // The row at `filled` is complete.
  void add_row() {
    if (++filled == kBlock) flush();
  }
  void flush() {
    if (filled > 0) writer.append(static_cast<int64_t>(filled), columns);
    filled = 0;
  }
};

// Which rows go to the validation split: of each label value's rows (counted in pass 1), a
// uniformly random `fraction` of them, rounded (Knuth's selection sampling: the next row is
// taken with probability wanted / left), from a seeded generator, in file order. A label
// value pass 1 did not count (past its first 1,001) takes each row with probability
// `fraction`.
class ValidSampler {
 public:
  ValidSampler(const std::map<std::string, int64_t>& label_rows, double fraction, uint64_t seed)
      : fraction_(fraction), state_(seed) {
    for (const auto& [label, rows] : label_rows)
      left_[label] = {static_cast<int64_t>(std::llround(fraction * static_cast<double>(rows))),
                      rows};
  }
  bool to_valid(const std::string& label) {
    const double u = static_cast<double>(next() >> 11) * 0x1.0p-53;
    auto it = left_.find(label);
    if (it == left_.end() || it->second.rows <= 0) return u < fraction_;
    Left& l = it->second;
    const bool take = u * static_cast<double>(l.rows) < static_cast<double>(l.wanted);
    l.wanted -= take;
    --l.rows;
    return take;
  }

 private:
  uint64_t next() {  // splitmix64
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  struct Left {
    int64_t wanted, rows;
  };
  double fraction_;
  uint64_t state_;
  std::map<std::string, Left> left_;
};

// parse_time's ISO 8601 text (no spaces around it) as seconds since the epoch.
std::optional<int64_t> iso8601_seconds(std::string_view s) {
  using namespace std::chrono;
  const int y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
  if (y < 1 || mo < 0 || d < 0 || s[4] != '-' || s[7] != '-') return std::nullopt;
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  int64_t seconds = int64_t{sys_days{date}.time_since_epoch().count()} * 86400;
  std::size_t i = 10;
  if (i == s.size()) return seconds;
  // The time of day: hh:mm, then :ss and a fraction.
  const int h = digits(s, i + 1, 2), mi = digits(s, i + 4, 2);
  if ((s[i] != 'T' && s[i] != ' ') || h < 0 || h > 23 || mi < 0 || mi > 59 || s[i + 3] != ':')
    return std::nullopt;
  seconds += h * 3600 + mi * 60;
  i += 6;
  if (i < s.size() && s[i] == ':') {
    const int sec = digits(s, i + 1, 2);
    if (sec < 0 || sec > 59) return std::nullopt;
    seconds += sec;
    i += 3;
    if (i < s.size() && s[i] == '.') {
      std::size_t end = i + 1;
      while (end < s.size() && s[end] >= '0' && s[end] <= '9')
        ++end;
      if (end == i + 1 || end - i - 1 > 9) return std::nullopt;
      i = end;
    }
  }
  if (i == s.size()) return seconds;
  // The offset from UTC: Z, or a sign and hh, hh:mm or hhmm.
  if (s[i] == 'Z') return i + 1 == s.size() ? std::optional<int64_t>(seconds) : std::nullopt;
  if (s[i] != '+' && s[i] != '-') return std::nullopt;
  const int oh = digits(s, i + 1, 2);
  const std::size_t rest = s.size() - i - 3;  // after the sign and hh
  const int om = rest == 0                      ? 0
                 : rest == 3 && s[i + 3] == ':' ? digits(s, i + 4, 2)
                 : rest == 2                    ? digits(s, i + 3, 2)
                                                : -1;
  if (oh < 0 || oh > 23 || om < 0 || om > 59) return std::nullopt;
  return seconds - (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
}

}  // namespace

std::optional<double> parse_number(std::string_view text) {
  // from_chars: locale-independent; allows no leading '+' or spaces, so strip those.
  const std::string_view s = trimmed(text);
  if (s.empty()) return std::nullopt;
  const char* first = s.data() + (s.front() == '+' ? 1 : 0);
  const char* last = s.data() + s.size();
  double value = 0;
  std::from_chars_result read = std::from_chars(first, last, value);
  if (read.ec == std::errc::result_out_of_range && read.ptr == last) {
    // Beyond double's range ("1e400", "1e-400"): long double's is wider, so it tells an
    // overflow (+-Inf) from an underflow (0).
    long double wide = 0;
    read = std::from_chars(first, last, wide);
    if (read.ec == std::errc() && std::isfinite(wide)) {
      constexpr long double kMax = std::numeric_limits<double>::max();
      value = wide > kMax    ? std::numeric_limits<double>::infinity()
              : wide < -kMax ? -std::numeric_limits<double>::infinity()
                             : static_cast<double>(wide);
    }
  }
  if (read.ec != std::errc() || read.ptr != last || std::isnan(value)) return std::nullopt;
  return value;
}

bool is_number(std::string_view text) {
  // The usual form, [+-]digits[.digits] with at most 18 digits, is a number by its form
  // alone: from_chars reads every such text, within double's range. Other forms (exponents,
  // "inf", ".5", "1.") are read.
  const std::string_view s = trimmed(text);
  std::size_t i = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
  auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i;
    return i - from;
  };
  const std::size_t whole = digits();
  std::size_t fraction = 0;
  bool dot = false;
  if (whole > 0 && i < s.size() && s[i] == '.') {
    ++i;
    dot = true;
    fraction = digits();
  }
  if (whole > 0 && (!dot || fraction > 0) && i == s.size() && whole + fraction <= 18) return true;
  return parse_number(text).has_value();
}

std::optional<int64_t> parse_time(std::string_view text) {
  const std::string_view s = trimmed(text);
  if (s.find('-', 1) == std::string_view::npos) return parse_integer(s);
  return iso8601_seconds(s);
}

CsvImportSummary import_csv(const CsvImportOptions& o) {
  KILN_CHECK(!o.files.empty(), ConfigError, "--csv: no input file");
  KILN_CHECK(o.rows_per_shard >= 1, ConfigError, "rows per shard must be at least 1");
  KILN_CHECK(o.valid_out.empty() || (o.valid_fraction > 0 && o.valid_fraction < 1), ConfigError,
             "--valid-fraction ", o.valid_fraction, ": must be between 0 and 1");
  auto where = [](const std::string& dir) {  // the directory's absolute path, links resolved
    std::error_code ec;
    return std::filesystem::weakly_canonical(std::filesystem::absolute(dir, ec), ec);
  };
  KILN_CHECK(o.valid_out.empty() || where(o.valid_out) != where(o.out), ConfigError, "--valid-out ",
             o.valid_out, " is --out: name another directory");
  std::optional<Schema> given;  // roles of some columns, from a schema file or --like
  const bool like = !o.like.empty();
  Dictionaries like_dictionaries;  // --like's
  std::string no_dictionaries;     // why a --like model has none: what to do instead
  KILN_CHECK(o.schema_file.empty() || o.like.empty(), ConfigError,
             "--schema and --like: give one (--like takes the roles from the dataset)");
  if (!o.schema_file.empty()) given = read_schema_file(o.schema_file);
  if (like && o.like_checkpoint.empty()) {
    const auto dataset = Dataset::open(o.like);
    given = dataset->schema();
    if (dataset->manifest() != nullptr)
      for (const auto& [column, file] : dataset->manifest()->dictionaries)
        like_dictionaries[column] = dataset->dictionary(column);
  } else if (like) {  // the model's training data: its profiled columns and dictionaries
    const std::filesystem::path dir(o.like_checkpoint);
    given.emplace();
    const Profile profile = Profile::read((dir / "profile.json").string());
    for (const ColumnProfile& c : profile.columns)
      given->columns.push_back({c.name, c.role, 0});
    if (std::filesystem::exists(dir / "dictionaries.json"))
      like_dictionaries = read_dictionaries((dir / "dictionaries.json").string());
    else
      no_dictionaries =
          "; its checkpoint has no dictionaries.json (written by a Kiln before "
          "checkpoints kept one): --like the dataset it was trained on" +
          (profile.path.empty() ? "" : ", " + profile.path);
  }
  const std::string& given_by = like ? o.like : o.schema_file;
  std::map<std::string, std::string> role_options;  // column -> its --role text
  for (const std::string& text : o.roles) {
    const auto eq = text.find('=');
    KILN_CHECK(eq != std::string::npos && eq > 0, ConfigError, "--role ", text,
               ": expected COLUMN=ROLE");
    const std::string name = text.substr(0, eq);
    const auto known = role_by_name(text.substr(eq + 1));
    KILN_CHECK(known.has_value(), ConfigError, "--role ", text, ": unknown role (expected ",
               kRoleNames, ")");
    const Role role = *known;
    KILN_CHECK(role != Role::kLabel, ConfigError, "--role ", text, ": name the label with --label ",
               name);
    KILN_CHECK(role_options.emplace(name, text).second, ConfigError, "--role ", text, ": column '",
               name, "' has a role already (--role ", role_options[name], ")");
    if (!given) given.emplace();
    // --like names its columns as imported (Kiln's names), --role as the CSV's header does.
    const std::string column = like ? column_name(name) : name;
    const int known_at = like ? given->find(column) : -1;
    KILN_CHECK(known_at < 0, ConfigError, "--role ", text, ": --like ", o.like, " gives column '",
               column, "' its role (",
               role_name(given->columns[static_cast<std::size_t>(std::max(known_at, 0))].role),
               "); --role is for the columns it does not have");
    const int other = given->find_role(role);
    KILN_CHECK(role == Role::kNumeric || role == Role::kCategorical || other < 0 ||
                   given->columns[static_cast<std::size_t>(other)].name == name,
               ConfigError, "--role ", text, ": a dataset has at most one ", role_name(role),
               " column, and '", given->columns[static_cast<std::size_t>(std::max(other, 0))].name,
               "' is one");
    const int at = given->find(column);
    if (at >= 0)
      given->columns[static_cast<std::size_t>(at)].role = role;
    else
      given->columns.push_back({column, role});
  }

  // Pass 1: header, types, dictionaries, label values.
  CsvImportSummary summary;
  std::vector<ColumnPlan> plan;
  std::vector<std::string> header;
  int label_index = -1;
  std::map<std::string, int64_t> label_values;  // the label's texts (at most 1001) and rows
  bool label_numeric = true;
  for (const auto& file : o.files) {
    CsvRecordStream records(file);
    const CsvRecord* record = records.next();
    KILN_CHECK(record != nullptr && record->error.empty(), DataError, file,
               ": line 1: expected a header row", record ? " (" + record->error + ")" : "");
    const std::vector<std::string>& names = record->fields;
    for (std::size_t c = 0; c < names.size(); ++c) {
      const std::string fault = csv_utf8_fault(names[c]);
      KILN_CHECK(fault.empty(), DataError, file, ":1: header field ", c + 1, ": ", fault);
    }
    if (plan.empty()) {
      header = names;
      for (const auto& name : header) {
        ColumnPlan p;
        p.name = column_name(name);
        if (p.name != name) summary.renamed[name] = p.name;
        // A schema file names the CSV's columns; a dataset, the names they were imported as.
        const int at = given ? given->find(like ? p.name : name) : -1;
        if (at >= 0) {
          p.role = given->columns[static_cast<std::size_t>(at)].role;
          p.fixed = true;
        }
        // A categorical column of --like's (not one a --role adds) keeps its codes.
        if (like && p.role == Role::kCategorical && !role_options.count(name)) {
          const auto strings = like_dictionaries.find(p.name);
          KILN_CHECK(strings != like_dictionaries.end(), ConfigError, "--like ", o.like,
                     ": categorical column '", p.name,
                     "' has no dictionary of strings to keep the codes of", no_dictionaries);
          p.dictionary = strings->second;
          for (std::size_t code = 0; code < p.dictionary.size(); ++code)
            p.codes.emplace(p.dictionary[code], static_cast<int32_t>(code));
        }
        plan.push_back(std::move(p));
      }
      if (!o.label.empty()) {
        auto it = std::find(header.begin(), header.end(), o.label);
        KILN_CHECK(it != header.end(), ConfigError, file, ": no column '", o.label, "' for --label",
                   missing_column_hint(header, o.label));
        label_index = static_cast<int>(it - header.begin());
        plan[static_cast<std::size_t>(label_index)].role = Role::kLabel;
        plan[static_cast<std::size_t>(label_index)].fixed = true;
      } else {  // the label of --schema or --like, if the file has it; else data to score
        for (std::size_t c = 0; c < plan.size(); ++c)
          if (plan[c].fixed && plan[c].role == Role::kLabel) label_index = static_cast<int>(c);
      }
      KILN_CHECK(label_index >= 0 || o.positive.empty(), ConfigError, "--positive ", o.positive,
                 ": ", file, " has no label column (name it with --label)");
      if (given) {
        for (const Column& c : given->columns) {
          if (c.role == Role::kLabel && label_index < 0) continue;  // unlabelled rows
          const bool found = std::any_of(plan.begin(), plan.end(),
                                         [&](const ColumnPlan& p) { return p.name == c.name; }) ||
                             std::find(header.begin(), header.end(), c.name) != header.end();
          const auto option = role_options.find(c.name);
          KILN_CHECK(found, ConfigError,
                     option != role_options.end() ? "--role " + option->second : given_by,
                     ": column '", c.name, "' is not in ", file,
                     missing_column_hint(header, c.name));
        }
      }
    } else {
      KILN_CHECK(names == header, DataError, file, ": line 1: the header differs from that of ",
                 o.files.front());
    }
    while ((record = records.next()) != nullptr) {
      const std::vector<std::string>& fields = record->fields;
      const std::string fault = record_fault(*record, header);
      if (!fault.empty()) {  // fails now; skipped, pass 2 counts it and sets it aside
        fail_unless_skipping(o.skip_bad_rows, file, record->line, fault);
        continue;
      }
      for (std::size_t c = 0; c < fields.size(); ++c) {
        ColumnPlan& p = plan[c];
        if (is_missing(fields[c], o.missing_values)) continue;
        if (static_cast<int>(c) == label_index) {
          label_numeric = label_numeric && is_number(fields[c]);
          if (label_values.size() <= 1000 || label_values.count(fields[c]))
            ++label_values[fields[c]];
          continue;
        }
        if (!p.fixed) {
          const bool numeric = is_number(fields[c]);
          p.all_numeric = p.all_numeric && numeric;
          p.seen_number = p.seen_number || (numeric && p.all_numeric);
          ++(numeric ? p.numbers : p.texts);
          if (!numeric && p.first_texts.size() < 3 &&
              std::find(p.first_texts.begin(), p.first_texts.end(), fields[c]) ==
                  p.first_texts.end())
            p.first_texts.push_back(fields[c]);
        }
        if (!p.collects()) continue;
        p.add(fields[c]);
        p.all_times = p.all_times && iso8601_seconds(fields[c]).has_value();
      }
    }
  }
  // A column of numbers that turned to text: its dictionary again from the first row, so that
  // the numbers get codes too, all in order of first appearance (one more read, for these
  // columns only; a table of numbers is held as none).
  std::vector<std::size_t> recount;
  for (std::size_t c = 0; c < plan.size(); ++c) {
    if (plan[c].fixed || plan[c].all_numeric || !plan[c].seen_number) continue;
    plan[c].codes.clear();
    plan[c].dictionary.clear();
    plan[c].all_times = false;  // it holds numbers
    recount.push_back(c);
  }
  for (std::size_t f = 0; !recount.empty() && f < o.files.size(); ++f) {
    CsvRecordStream records(o.files[f]);
    records.next();  // the header
    while (const CsvRecord* r = records.next()) {
      if (!record_fault(*r, header).empty()) continue;
      for (std::size_t c : recount)
        if (!is_missing(r->fields[c], o.missing_values)) plan[c].add(r->fields[c]);
    }
  }
  Schema schema;
  for (ColumnPlan& p : plan) {
    if (!p.fixed) p.role = p.all_numeric ? Role::kNumeric : Role::kCategorical;
    if (p.role != Role::kCategorical) {
      p.codes.clear();
      p.dictionary.clear();
    }
    schema.columns.push_back({p.name, p.role, static_cast<int64_t>(p.dictionary.size())});
    // Only where the role was inferred: a schema, --like or --role that made it categorical
    // chose so (and --role on a column --like has is refused).
    if (!p.fixed && p.role == Role::kCategorical && p.all_times && !p.dictionary.empty())
      summary.time_like.push_back(p.name);
    // A few texts among many numbers: most likely a missing-value marker ("?", "-").
    if (!p.fixed && p.role == Role::kCategorical && p.numbers >= 19 * p.texts)
      summary.text_in_numbers[p.name] = p.first_texts;
  }
  schema.validate(o.files.front());

  // The label mapping.
  const std::string label_name =
      label_index >= 0 ? plan[static_cast<std::size_t>(label_index)].name : "";
  std::map<std::string, float>& label_map = summary.label_map;
  if (!o.positive.empty()) {
    for (const auto& [v, rows] : label_values)
      label_map[v] = v == o.positive ? 1.0f : 0.0f;
    KILN_CHECK(label_map.count(o.positive), ConfigError, "--positive '", o.positive,
               "' does not occur in column '", label_name, "'");
  } else if (!label_numeric) {
    KILN_CHECK(label_values.size() == 2, DataError, "column '", label_name, "' has ",
               label_values.size(),
               " distinct text values; a binary label needs two, and --positive to name the one "
               "that means 1");
    throw ConfigError(detail::concat(
        "column '", label_name, "' has the values '", label_values.begin()->first, "' and '",
        label_values.rbegin()->first, "': say which one is positive with --positive VALUE"));
  }

  // Pass 2: write.
  std::string reject_path = o.reject_file.empty()
                                ? (std::filesystem::path(o.out) / "rejects.csv").string()
                                : o.reject_file;
  std::unique_ptr<std::ofstream> rejects;
  Output train(o.out, schema, plan, o);
  std::unique_ptr<Output> valid;
  if (!o.valid_out.empty()) valid = std::make_unique<Output>(o.valid_out, schema, plan, o);
  ValidSampler sampler(label_values, o.valid_fraction, o.split_seed);
  const std::size_t ncols = plan.size();
  core::ProgressBar progress("import", 0);
  for (const auto& file : o.files) {
    CsvRecordStream records(file);
    records.next();  // the header
    while (const CsvRecord* record = records.next()) {
      if (++summary.rows_read % 65536 == 0) progress.update(summary.rows_read, "rows");
      const std::vector<std::string>& fields = record->fields;
      std::string error = record_fault(*record, header);
      Output& out = valid && error.empty() &&
                            sampler.to_valid(label_index >= 0 ? fields[label_index] : std::string())
                        ? *valid
                        : train;
      for (std::size_t c = 0; error.empty() && c < ncols; ++c) {
        const std::string& v = fields[c];
        char* dst = out.buffers.column<char>(c) + out.filled * mem_size(plan[c].role);
        const bool missing = is_missing(v, o.missing_values);
        switch (plan[c].role) {
          case Role::kCategorical: {
            int32_t code = -1;
            if (!missing) {
              auto it = plan[c].codes.find(v);
              if (it == plan[c].codes.end())
                error = detail::concat("column '", plan[c].name, "': '", v,
                                       "' is not in its dictionary");
              else
                code = it->second;
            }
            std::memcpy(dst, &code, 4);
            break;
          }
          case Role::kLabel: {
            float value = NAN;
            if (missing) {
              error = detail::concat("the label '", plan[c].name, "' is missing");
            } else if (!label_map.empty()) {
              auto it = label_map.find(v);
              if (it == label_map.end())
                error = detail::concat("label value '", v, "' is not mapped");
              else
                value = it->second;
            } else {
              auto number = parse_number(v);
              if (!number || !std::isfinite(to_float(*number))) {
                error = detail::concat("label '", v, "' is not a finite float32 number");
              } else {
                value = to_float(*number);
              }
            }
            std::memcpy(dst, &value, 4);
            break;
          }
          case Role::kId:
          case Role::kTime: {
            const bool time = plan[c].role == Role::kTime;
            const std::optional<int64_t> parsed = missing ? std::nullopt
                                                  : time  ? parse_time(v)
                                                          : parse_integer(v);
            if (!parsed) {
              error = detail::concat(
                  "column '", plan[c].name, "' (", role_name(plan[c].role), "): expected ",
                  time ? "seconds since the epoch or an ISO 8601 date or time" : "an integer",
                  ", got '", v, "'");
            }
            const int64_t value = parsed.value_or(0);
            std::memcpy(dst, &value, 8);
            break;
          }
          default: {
            // parse_number never yields NaN, so NaN here means missing or unparsable.
            const double parsed = missing ? NAN : parse_number(v).value_or(NAN);
            if (!missing && std::isnan(parsed)) {
              error = detail::concat("column '", plan[c].name, "': '", v, "' is not a number");
            }
            const float value = to_float(parsed);
            if (plan[c].role == Role::kWeight && !(value >= 0 && std::isfinite(value))) {
              error = detail::concat("weight '", v, "' must be a finite float32 number >= 0");
            }
            std::memcpy(dst, &value, 4);
          }
        }
      }
      if (!error.empty()) {
        fail_unless_skipping(o.skip_bad_rows, file, record->line, error);
        if (!rejects) {
          rejects = std::make_unique<std::ofstream>(reject_path, std::ios::trunc);
          KILN_CHECK(rejects->good(), OutputError, "cannot write the reject file '", reject_path,
                     "'");
        }
        *rejects << record->raw << "\n";
        ++summary.rows_rejected;
        continue;
      }
      out.add_row();
      ++(&out == valid.get() ? summary.valid_rows : summary.rows_written);
    }
  }
  train.flush();
  if (valid) valid->flush();
  if (rejects) {
    rejects->flush();
    KILN_CHECK(rejects->good(), OutputError, "cannot write the reject file '", reject_path, "'");
    summary.reject_file = reject_path;
  }
  KILN_CHECK(summary.rows_written > 0, DataError, "no rows to import from ", o.files.front(),
             " (read ", summary.rows_read, ", rejected ", summary.rows_rejected, ")");
  KILN_CHECK(!valid || summary.valid_rows > 0, DataError, "--valid-fraction ", o.valid_fraction,
             " of ", summary.rows_written, " rows leaves ", o.valid_out, " without a row");
  summary.manifest = train.writer.finish();
  if (valid) summary.valid_manifest = valid->writer.finish();
  return summary;
}

}  // namespace kiln::data
