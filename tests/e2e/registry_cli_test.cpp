// kiln registry, driven as a deploy pipeline would: real trained models registered,
// promoted on evidence (refused when worse), rolled back, and used by predict, eval and
// fit --resume through registry: references; the exit codes of bad input.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_kiln.h"
#include "synth_suite.h"
#include "tests/temp_dir.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using testing::read_json;
using testing::run_kiln;
using testing::slurp;

class RegistryCli : public testing::SynthSuite<30000> {
 protected:
  // Trains a run and returns its directory: `good` is an MLP trained 150 steps; else a
  // logistic model trained 3 steps at a tiny learning rate (a worse model).
  fs::path train(const std::string& name, bool good) {
    std::vector<std::string> args = {"fit",
                                     "data.train=" + (data() / "d/train").string(),
                                     "data.valid=" + (data() / "d/valid").string(),
                                     "data.batch_size=256",
                                     "data.threads=1",
                                     "run.dir=" + (fs::path(dir.path()) / "runs").string(),
                                     "run.name=" + name,
                                     "optim.warmup_steps=1"};
    if (good) {
      args.insert(args.end(), {"train.steps=150", "train.eval_every=50", "model.hidden=[32,16]"});
    } else {
      args.insert(args.end(),
                  {"train.steps=3", "train.eval_every=3", "model.type=logistic", "optim.lr=1e-5"});
    }
    const auto fit = run_kiln(args);
    EXPECT_EQ(fit.exit_code, 0) << fit.err;
    return fs::path(dir.path()) / "runs/default" / name;
  }
  testing::KilnRun kiln(std::vector<std::string> args) {
    args.push_back("--registry");
    args.push_back(reg());
    return run_kiln(args);
  }
  std::string reg() const { return (fs::path(dir.path()) / "reg").string(); }
  std::string test_data() const { return (data() / "d/test").string(); }
};

TEST_F(RegistryCli, PromoteMovesOnlyOnEvidenceAndRollbackRestores) {
  const fs::path weak = train("weak", false), good = train("good", true);
  ASSERT_EQ(kiln({"registry", "register", weak.string(), "--name", "fraud", "--alias", "champion"})
                .exit_code,
            0);
  const auto reg2 = kiln({"registry", "register", good.string(), "--name", "fraud", "--alias",
                          "candidate", "--tag", "team=risk", "--json"});
  ASSERT_EQ(reg2.exit_code, 0) << reg2.err;
  EXPECT_EQ(nlohmann::json::parse(reg2.out)["version"], 2);

  // A better candidate: promoted, with the evaluation attached as its evidence.
  auto promoted = kiln({"registry", "promote", "fraud", "--data", test_data()});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.err;
  EXPECT_NE(promoted.out.find("promoted fraud@champion: v1 -> v2"), std::string::npos)
      << promoted.out;
  auto show = kiln({"registry", "show", "fraud@champion", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  const auto shown = nlohmann::json::parse(show.out);
  EXPECT_EQ(shown["version"], 2);
  ASSERT_EQ(shown["reports"].size(), 1u);
  const fs::path report =
      fs::path(reg()) / "fraud/reports" / shown["reports"][0].get<std::string>();
  const auto evidence = read_json(report / "report.json");
  EXPECT_EQ(evidence["baselines"][0]["name"], "champion");
  EXPECT_EQ(evidence["provenance"]["model"]["registry"]["version_ref"], "fraud/v2");
  EXPECT_TRUE(evidence["gates"][0]["passed"].get<bool>());

  // A worse candidate: exit 3, the alias unmoved, the failed evaluation kept.
  ASSERT_EQ(kiln({"registry", "register", weak.string(), "--name", "fraud", "--alias", "candidate"})
                .exit_code,
            0);
  auto refused = kiln({"registry", "promote", "fraud", "--data", test_data()});
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_NE(refused.out.find("not promoted: fraud@champion stays v2 (candidate v3)"),
            std::string::npos)
      << refused.out;
  EXPECT_EQ(
      nlohmann::json::parse(kiln({"registry", "show", "fraud@champion", "--json"}).out)["version"],
      2);
  EXPECT_EQ(
      nlohmann::json::parse(kiln({"registry", "show", "fraud/v3", "--json"}).out)["reports"].size(),
      1u);

  // predict through the alias scores with whichever version it holds.
  const std::string out_alias = (fs::path(dir.path()) / "alias.csv").string();
  const std::string out_run = (fs::path(dir.path()) / "run.csv").string();
  auto p = kiln(
      {"predict", "--model", "registry:fraud@champion", "--data", test_data(), "--out", out_alias});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find("fraud/v2 (champion at "), std::string::npos) << p.out;
  ASSERT_EQ(run_kiln({"predict", "--model", good.string(), "--data", test_data(), "--out", out_run})
                .exit_code,
            0);
  EXPECT_EQ(slurp(out_alias), slurp(out_run));

  // rollback: the champion is the weak v1 again, and predict follows it.
  auto back = kiln({"registry", "rollback", "fraud@champion"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  ASSERT_EQ(kiln({"predict", "--model", "registry:fraud@champion", "--data", test_data(), "--out",
                  out_alias})
                .exit_code,
            0);
  ASSERT_EQ(run_kiln({"predict", "--model", weak.string(), "--data", test_data(), "--out", out_run})
                .exit_code,
            0);
  EXPECT_EQ(slurp(out_alias), slurp(out_run));
  auto history = kiln({"registry", "history", "fraud@champion", "--json"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  const auto moves = nlohmann::json::parse(history.out);
  ASSERT_EQ(moves.size(), 3u);
  EXPECT_EQ(moves[0]["how"], "register");
  EXPECT_EQ(moves[1]["how"], "promote");
  EXPECT_EQ(moves[1]["report"], shown["reports"][0]);
  EXPECT_EQ(moves[2]["how"], "rollback");
  EXPECT_EQ(moves[2]["version"], 1);

  // Compare-and-set: a stale --expect moves nothing and exits 5.
  auto stale = kiln({"registry", "alias", "set", "fraud@champion", "v3", "--expect", "v2"});
  EXPECT_EQ(stale.exit_code, 5);
  EXPECT_NE(stale.last_err_line().find("fraud@champion holds v1, not v2"), std::string::npos)
      << stale.err;
  // --force moves without evidence, and the history says so.
  ASSERT_EQ(kiln({"registry", "promote", "fraud", "--from", "v3", "--force"}).exit_code, 0);
  const auto forced =
      nlohmann::json::parse(kiln({"registry", "history", "fraud@champion", "--json"}).out);
  EXPECT_TRUE(forced.back()["forced"].get<bool>());
  EXPECT_EQ(kiln({"registry", "archive", "fraud/v3"}).exit_code, 64);  // the champion
  EXPECT_EQ(kiln({"registry", "verify"}).exit_code, 0);
}

TEST_F(RegistryCli, EvalAndFitResumeTakeRegistryReferencesAndRecordThem) {
  const fs::path good = train("good", true), weak = train("weak", false);
  ASSERT_EQ(
      kiln({"registry", "register", good.string(), "--name", "m", "--alias", "champion"}).exit_code,
      0);
  ASSERT_EQ(kiln({"registry", "register", weak.string(), "--name", "m"}).exit_code, 0);
  const std::string out = (fs::path(dir.path()) / "eval").string();
  auto eval = kiln({"eval", "--model", "registry:m/v2", "--data", test_data(), "--baseline",
                    "registry:m@champion", "--out", out});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto report = read_json(fs::path(out) / "report.json");
  EXPECT_EQ(report["provenance"]["model"]["registry"]["ref"], "registry:m/v2");
  EXPECT_EQ(report["baselines"][0]["name"], "champion");
  EXPECT_NE(report["baselines"][0]["source"].get<std::string>().find("m/v1 (champion at "),
            std::string::npos);

  // fit --resume from a registered version continues it in a new run; its model's card
  // records the version as its parent.
  auto fit =
      run_kiln({"fit", "data.train=" + (data() / "d/train").string(),
                "data.valid=" + (data() / "d/valid").string(), "data.batch_size=256",
                "data.threads=1", "run.dir=" + (fs::path(dir.path()) / "runs").string(),
                "run.name=tuned", "train.steps=200", "train.eval_every=50", "model.hidden=[32,16]",
                "optim.warmup_steps=1", "--resume", "registry:m@champion", "--registry", reg()});
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const fs::path tuned = fs::path(dir.path()) / "runs/default/tuned";
  EXPECT_EQ(read_json(tuned / "run.json")["resumed_from_registry"]["version_ref"], "m/v1");
  EXPECT_TRUE(
      fs::exists(good / "checkpoints"));  // nothing written into the registry or the old run
  auto card = kiln({"registry", "register", tuned.string(), "--name", "m", "--json"});
  ASSERT_EQ(card.exit_code, 0) << card.err;
  EXPECT_EQ(nlohmann::json::parse(card.out)["parent"], "m/v1");
  EXPECT_EQ(kiln({"registry", "verify", "m"}).exit_code, 0);
}

TEST_F(RegistryCli, FitInitFineTunesARegisteredModelOnOtherDataAndRecordsItsParent) {
  const fs::path good = train("good", true);
  ASSERT_EQ(
      kiln({"registry", "register", good.string(), "--name", "m", "--alias", "champion"}).exit_code,
      0);
  // The version's validation AUROC, by kiln eval (it is refitted on train and valid: its card
  // has the metrics of the checkpoint it refits).
  const std::string eval_dir = (fs::path(dir.path()) / "eval_v1").string();
  ASSERT_EQ(kiln({"eval", "--model", "registry:m/v1", "--data", (data() / "d/valid").string(),
                  "--out", eval_dir, "eval.bootstrap=0"})
                .exit_code,
            0);
  const double v1_auroc =
      read_json(fs::path(eval_dir) / "report.json")["metrics"]["auroc"]["value"];
  const fs::path v1 = fs::path(reg()) / "m/versions/v1";
  auto fine_tune = [&](const std::string& name, std::vector<std::string> more,
                       const std::string& init = "registry:m@champion") {
    std::vector<std::string> args = {"fit",
                                     "data.train=" + test_data(),  // other rows
                                     "data.valid=" + (data() / "d/valid").string(),
                                     "data.threads=1",
                                     "run.dir=" + (fs::path(dir.path()) / "runs").string(),
                                     "run.name=" + name,
                                     "--init",
                                     init};
    args.insert(args.end(), more.begin(), more.end());
    return kiln(args);
  };
  // The run's start is evaluated and checkpointed at step 0: the version as it is (the same
  // validation AUROC), with its transform plan, on the other data.
  auto first = fine_tune("start", {"train.steps=1", "train.eval_every=1", "train.refit=false"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const fs::path start = fs::path(dir.path()) / "runs/default/start";
  const auto manifest = read_json(start / "checkpoints/step_00000000/MANIFEST.json");
  EXPECT_NEAR(manifest["metrics"]["val/auroc"].get<double>(), v1_auroc, 1e-6) << manifest;
  EXPECT_FALSE(manifest["metrics"].contains("train/loss")) << manifest;
  {  // metrics.jsonl has both evaluations; the best of them is the run's best
    std::ifstream lines(start / "metrics.jsonl");
    std::string line;
    std::vector<nlohmann::json> evals;
    while (std::getline(lines, line))
      evals.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(evals.size(), 2u);
    EXPECT_EQ(evals[0]["step"], 0);
    const int best = evals[1]["val/auroc"] > evals[0]["val/auroc"] ? 1 : 0;
    EXPECT_EQ(read_json(start / "result.json")["best_step"], best) << evals[0] << evals[1];
  }
  const auto v1_manifest = read_json(v1 / "MANIFEST.json");
  EXPECT_EQ(read_json(start / "checkpoints/step_00000000/transform.json"),
            read_json(v1 / "transform.json"));
  EXPECT_EQ(manifest["parent"], fs::absolute(v1).lexically_normal().string());
  EXPECT_NE(manifest["data_fingerprint"], v1_manifest["data_fingerprint"]);

  // A real fine-tune: it trains, and its registered model's card names the version it
  // started from.
  auto tuned = fine_tune("tuned", {"train.steps=100", "train.eval_every=50"});
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  EXPECT_NE(tuned.err.find("fine-tuning " + fs::absolute(v1).lexically_normal().string()),
            std::string::npos)
      << tuned.err;
  const fs::path run = fs::path(dir.path()) / "runs/default/tuned";
  const auto recorded = read_json(run / "run.json")["initialized_from"];
  EXPECT_EQ(recorded["registry"]["version_ref"], "m/v1") << recorded;
  EXPECT_GT(read_json(run / "result.json")["objective"]["value"].get<double>(), 0.5);
  auto registered = kiln({"registry", "register", run.string(), "--name", "m", "--json"});
  ASSERT_EQ(registered.exit_code, 0) << registered.err;
  EXPECT_EQ(nlohmann::json::parse(registered.out)["parent"], "m/v1");
  // The alias moves; the run resumed (a requeued job's same command) goes on from v1.
  ASSERT_EQ(kiln({"registry", "alias", "set", "m@champion", "v2"}).exit_code, 0);
  auto again = fine_tune("tuned", {"train.steps=100", "train.eval_every=50", "--resume", "auto"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("the run resumed started from " +
                           fs::absolute(v1).lexically_normal().string()),
            std::string::npos)
      << again.err;
  EXPECT_EQ(read_json(run / "run.json")["initialized_from"]["registry"]["version_ref"], "m/v1");

  // Another architecture than the version's, or --init with --resume PATH: exit 78, naming it.
  auto other = fine_tune("other", {"model.hidden=[8]"});
  EXPECT_EQ(other.exit_code, 78);
  EXPECT_NE(other.last_err_line().find("model.hidden: [8] is not the model of --init"),
            std::string::npos)
      << other.err;
  auto both = fine_tune("both", {"--resume", good.string()});
  EXPECT_EQ(both.exit_code, 78);
  EXPECT_NE(both.last_err_line().find("--init and --resume"), std::string::npos) << both.err;
  EXPECT_FALSE(fs::exists(fs::path(dir.path()) / "runs/default/other"));
  EXPECT_EQ(fine_tune("gone", {}, "registry:m@nope").exit_code, 66);
}

TEST_F(RegistryCli, BadInputExitsWithItsCodeNamingWhatIsWrong) {
  const fs::path good = train("good", true);
  EXPECT_EQ(kiln({"registry", "register", good.string(), "--name", "a/b"}).exit_code, 64);
  EXPECT_EQ(kiln({"registry", "register", good.string(), "--name", ".."}).exit_code, 64);
  ASSERT_EQ(kiln({"registry", "register", good.string(), "--name", "m", "--copy"}).exit_code, 0);
  auto missing = kiln({"predict", "--model", "registry:m@champion", "--data", test_data(), "--out",
                       (fs::path(dir.path()) / "x.csv").string()});
  EXPECT_EQ(missing.exit_code, 66);
  EXPECT_NE(missing.last_err_line().find("no alias 'champion' on model 'm'"), std::string::npos)
      << missing.err;
  EXPECT_EQ(kiln({"registry", "show", "m/v7"}).exit_code, 66);
  EXPECT_EQ(kiln({"registry", "show", "nope@x"}).exit_code, 66);
  auto nowhere =
      run_kiln({"registry", "ls", "--registry", (fs::path(dir.path()) / "none").string()});
  EXPECT_EQ(nowhere.exit_code, 66);
  EXPECT_NE(nowhere.last_err_line().find("no registry at"), std::string::npos) << nowhere.err;

  // A corrupted file of a copied version: verify and every reader exit 65 naming it.
  const fs::path weights = fs::path(reg()) / "m/versions/v1/model.safetensors";
  ::chmod(weights.c_str(), 0644);
  {
    std::fstream f(weights, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-4, std::ios::end);
    f.put('\x7f');
  }
  auto verify = kiln({"registry", "verify"});
  EXPECT_EQ(verify.exit_code, 65);
  EXPECT_NE(verify.err.find(weights.string()), std::string::npos) << verify.err;
  auto predict = kiln({"predict", "--model", "registry:m/v1", "--data", test_data(), "--out",
                       (fs::path(dir.path()) / "x.csv").string()});
  EXPECT_EQ(predict.exit_code, 65);
  EXPECT_NE(predict.last_err_line().find("model.safetensors"), std::string::npos) << predict.err;

  // A journal line that is not JSON, and one naming an unknown version: 65 naming the line.
  const fs::path journal = fs::path(reg()) / "m/journal.jsonl";
  const std::string good_journal = slurp(journal);
  std::ofstream(journal, std::ios::app) << "{not json\n";
  auto ls = kiln({"registry", "ls", "m"});
  EXPECT_EQ(ls.exit_code, 65);
  EXPECT_NE(ls.last_err_line().find(journal.string() + " line 2"), std::string::npos) << ls.err;
  std::ofstream(journal, std::ios::trunc)
      << good_journal << R"({"event":"archive","version":9,"t":1})"
      << "\n";
  auto unknown = kiln({"registry", "history", "m@champion"});
  EXPECT_EQ(unknown.exit_code, 65);
  EXPECT_NE(unknown.last_err_line().find("names unknown version v9"), std::string::npos)
      << unknown.err;
}

}  // namespace
}  // namespace kiln
