#include "eval/gates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "core/errors.h"
#include "tests/error_of.h"

namespace kiln::eval {
namespace {

std::string gate_error(const std::string& text) {
  return kiln::testing::error_of<ConfigError>([&] { parse_gate(text); });
}

TEST(Gates, ParseTheDocumentedForms) {
  Gate a = parse_gate("auroc >= 0.80");
  EXPECT_EQ(a.left.ref->metric, "auroc");
  EXPECT_EQ(a.op, ">=");
  EXPECT_FALSE(a.right.ref.has_value());
  EXPECT_EQ(a.right.number, 0.80);
  Gate b = parse_gate("auroc >= baseline.auroc - 0.002");
  EXPECT_TRUE(b.right.ref->baseline);
  EXPECT_EQ(b.right.ref->baseline_name, "");
  EXPECT_EQ(b.right.number, -0.002);
  Gate c = parse_gate("ap.ci_low>baseline.prior.ap");
  EXPECT_EQ(c.left.ref->part, "ci_low");
  EXPECT_EQ(c.op, ">");
  EXPECT_EQ(c.right.ref->baseline_name, "prior");
  EXPECT_EQ(c.right.ref->text(), "baseline.prior.ap");
  Gate d = parse_gate("ece <= 0.02");
  EXPECT_EQ(d.op, "<=");
  EXPECT_EQ(parse_gate("log_loss < baseline.old.log_loss + 1e-3").right.number, 1e-3);
}

TEST(Gates, MalformedGatesAreConfigErrorsNamingTheGate) {
  EXPECT_NE(gate_error("aucroc >= 0.8")
                .find("gate 'aucroc >= 0.8': unknown metric 'aucroc'; nearest: 'auroc'"),
            std::string::npos);
  EXPECT_NE(gate_error("auroc 0.8").find("expected one of >= <= > <"), std::string::npos);
  EXPECT_NE(gate_error("auroc >= ").find("expected a number or a metric"), std::string::npos);
  EXPECT_NE(gate_error("auroc >= 0.8 extra").find("unexpected text"), std::string::npos);
  EXPECT_NE(gate_error("auroc.ci_mid >= 0.8").find("must be ci_low or ci_high"), std::string::npos);
  EXPECT_NE(gate_error("0.9 >= 0.8").find("compares two numbers"), std::string::npos);
  EXPECT_NE(gate_error("auroc >= baseline.auroc -").find("expected a number after '-'"),
            std::string::npos);
  EXPECT_NE(gate_error("").find("empty"), std::string::npos);
  EXPECT_EQ(ConfigError("x").exit_code(), 78);
}

TEST(Gates, EvaluateAgainstModelAndBaselinesAndFailOnUndefinedValues) {
  std::map<std::string, double> values = {{"auroc", 0.81},
                                          {"auroc.ci_low", 0.79},
                                          {"baseline.auroc", 0.80},
                                          {"baseline.prior.ap", 0.1},
                                          {"log_loss", NAN}};
  GateLookup lookup = [&](const GateRef& ref) -> std::optional<double> {
    if (ref.baseline && ref.baseline_name == "missing") return std::nullopt;
    std::string key =
        ref.baseline
            ? (ref.baseline_name.empty() ? "baseline." : "baseline." + ref.baseline_name + ".")
            : "";
    key += ref.metric + (ref.part == "value" ? "" : "." + ref.part);
    auto it = values.find(key);
    return it == values.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
  };
  EXPECT_TRUE(evaluate_gate(parse_gate("auroc >= baseline.auroc - 0.002"), lookup).passed);
  EXPECT_FALSE(evaluate_gate(parse_gate("auroc.ci_low > baseline.auroc"), lookup).passed);
  GateResult r = evaluate_gate(parse_gate("auroc >= 0.82"), lookup);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.left, 0.81);
  EXPECT_EQ(r.right, 0.82);
  GateResult undefined = evaluate_gate(parse_gate("log_loss <= 0.3"), lookup);
  EXPECT_FALSE(undefined.passed);
  EXPECT_NE(undefined.detail.find("log_loss is undefined"), std::string::npos);
  EXPECT_NE(kiln::testing::error_of<ConfigError>([&] {
              evaluate_gate(parse_gate("auroc >= baseline.missing.auroc"), lookup);
            }).find("no such baseline for 'baseline.missing.auroc'"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::eval
