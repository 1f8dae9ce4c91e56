// The run report (`kiln report RUN...`, and reports/run.html at the end of every `kiln fit`):
// one self-contained HTML page (inline CSS and SVG, no scripts, no network) with a run's
// curves from metrics.jsonl (train loss, each validation metric, learning rate, throughput,
// waits; the best step marked), its state and result, the final evaluation (the best
// checkpoint's metrics), its checkpoints, data fingerprints, `auto` choices and resolved
// config. Several runs are overlaid on the same charts for comparison.
#pragma once

#include <string>
#include <vector>

namespace kiln::eval {

// The page for these run directories. InputError naming a path that is not a run directory;
// DataError naming the file (and line) of a run file that does not parse.
std::string run_report_html(const std::vector<std::string>& runs);

// run_report_html written atomically to `out`.
void write_run_report(const std::vector<std::string>& runs, const std::string& out);

}  // namespace kiln::eval
