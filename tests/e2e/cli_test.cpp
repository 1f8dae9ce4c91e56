// Drives the kiln binary: exit codes, --help, --version, env and config as users see them.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "run_kiln.h"

namespace kiln {
namespace {

using testing::run_kiln;

const std::string kExample = std::string(KILN_SOURCE_DIR) + "/configs/example.yaml";

TEST(Cli, HelpListsTheCommandsAndExitsZero) {
  auto run = run_kiln({"--help"});
  EXPECT_EQ(run.exit_code, 0);
  for (const char* word : {"env", "config", "--version", "Exit codes"}) {
    EXPECT_NE(run.out.find(word), std::string::npos) << word << "\n" << run.out;
  }
  for (std::vector<std::string> args : {std::vector<std::string>{"env", "--help"},
                                        {"config", "show", "--help"},
                                        {"config", "keys", "--help"}}) {
    auto sub = run_kiln(args);
    EXPECT_EQ(sub.exit_code, 0) << args[0];
    EXPECT_NE(sub.out.find("Usage:"), std::string::npos) << sub.out;
  }
  EXPECT_NE(run_kiln({"config", "show", "--help"}).out.find("+key.path=value"), std::string::npos);
}

TEST(Cli, BadCommandLinesExit64WithTheReasonLast) {
  auto none = run_kiln({});
  EXPECT_EQ(none.exit_code, 64);
  EXPECT_NE(none.last_err_line().find("no command given"), std::string::npos) << none.err;
  auto bogus = run_kiln({"bogus"});
  EXPECT_EQ(bogus.exit_code, 64);
  EXPECT_NE(bogus.last_err_line().find("bogus"), std::string::npos) << bogus.err;
  auto bad_flag = run_kiln({"env", "--frobnicate"});
  EXPECT_EQ(bad_flag.exit_code, 64);
  auto malformed = run_kiln({"config", "show", "run..seed=1"});
  EXPECT_EQ(malformed.exit_code, 64);
  EXPECT_NE(malformed.last_err_line().find("run..seed=1"), std::string::npos) << malformed.err;
  auto latin1 = run_kiln({"predict", "--model", "caf\xe9", "--data", "d", "--out", "s.csv"});
  EXPECT_EQ(latin1.exit_code, 64);
  EXPECT_NE(latin1.last_err_line().find("argument 3 is not UTF-8 (byte 0xE9 at offset 3)"),
            std::string::npos)
      << latin1.err;
}

TEST(Cli, VersionNamesEveryComponent) {
  auto text = run_kiln({"--version"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* word : {"kiln 0.", "compiler", "libtorch  2.11.0", "cuda", "cudnn", "hdf5  "}) {
    EXPECT_NE(text.out.find(word), std::string::npos) << word << "\n" << text.out;
  }
  auto json = run_kiln({"--version", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto v = nlohmann::json::parse(json.out);
  EXPECT_EQ(v["libtorch"], "2.11.0");
  EXPECT_TRUE(v["hdf5"].get<std::string>().starts_with("1."));
  EXPECT_TRUE(v.contains("git_revision"));
  EXPECT_TRUE(v["cuda"].contains("driver"));
  EXPECT_TRUE(v["cuda"]["gpus"].is_string());
}

// `kiln` is LibTorch-free (docs/ARCHITECTURE.md, "Two binaries"): its data, drift, eval (of
// scores files) and config commands run alone; a command that needs a model continues in
// kiln-torch beside it, and without one it exits 69 naming it.
TEST(Cli, KilnRunsWithoutLibTorchAndContinuesModelCommandsInKilnTorch) {
  namespace fs = std::filesystem;
  auto ldd = [](const std::string& binary) {
    std::string libraries;
    FILE* pipe = ::popen(("ldd " + binary).c_str(), "r");
    char buffer[4096];
    while (pipe != nullptr && std::fgets(buffer, sizeof buffer, pipe) != nullptr)
      libraries += buffer;
    if (pipe != nullptr) ::pclose(pipe);
    return libraries;
  };
  const fs::path torch = fs::path(KILN_BINARY).parent_path() / "kiln-torch";
  EXPECT_EQ(ldd(KILN_BINARY).find("libtorch"), std::string::npos) << ldd(KILN_BINARY);
  EXPECT_NE(ldd(torch.string()).find("libtorch_cpu"), std::string::npos) << ldd(torch.string());

  const fs::path dir = fs::temp_directory_path() / ("kiln_alone_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string alone = (dir / "kiln").string();
  fs::copy_file(KILN_BINARY, alone);
  auto run_alone = [&](const std::vector<std::string>& args) {
    return testing::wait_kiln(testing::start_program(alone, args));
  };
  const std::string data = (dir / "d").string(), profile = (dir / "p.json").string();
  ASSERT_EQ(run_alone({"data", "synth", "--out", data, "--rows", "3000", "--seed", "2"}).exit_code,
            0);
  ASSERT_EQ(run_alone({"data", "profile", data + "/train", "--out", profile}).exit_code, 0);
  auto drift = run_alone({"drift", "--reference", profile, "--data", data + "/valid", "--out",
                          (dir / "r").string(), "--json"});
  EXPECT_EQ(drift.exit_code, 0) << drift.err;
  EXPECT_TRUE(nlohmann::json::parse(drift.out)["drifted_columns"].is_number()) << drift.out;
  EXPECT_EQ(run_alone({"config", "show"}).exit_code, 0);
  std::ofstream(dir / "s.csv") << "label,score\n0,0.2\n1,0.7\n0,0.4\n1,0.9\n0,0.1\n";
  auto eval = run_alone({"eval", "--scores", (dir / "s.csv").string(), "--baseline", "prior",
                         "--out", (dir / "e").string(), "--json"});
  EXPECT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_EQ(nlohmann::json::parse(eval.out)["metrics"]["auroc"]["value"], 1.0) << eval.out;

  for (std::vector<std::string> args :
       {std::vector<std::string>{"--version"},
        {"fit", "data.train=" + data + "/train", "data.valid=" + data + "/valid"},
        {"eval", "--model", (dir / "run").string(), "--data", data + "/valid", "--out",
         (dir / "e2").string()}}) {
    auto needs_torch = run_alone(args);
    EXPECT_EQ(needs_torch.exit_code, 69) << args[0] << "\n" << needs_torch.err;
    EXPECT_NE(needs_torch.last_err_line().find((dir / "kiln-torch").string() + ": cannot run it"),
              std::string::npos)
        << needs_torch.err;
  }
  fs::remove_all(dir);
}

TEST(Cli, EnvReadsTorchrunThenSlurmVariables) {
  auto torchrun = run_kiln(
      {"env", "--json"},
      {{"RANK", "3"}, {"LOCAL_RANK", "1"}, {"WORLD_SIZE", "8"}, {"MASTER_ADDR", "10.1.2.3"}});
  ASSERT_EQ(torchrun.exit_code, 0) << torchrun.err;
  auto t = nlohmann::json::parse(torchrun.out);
  EXPECT_EQ(t["source"], "torchrun");
  EXPECT_EQ(t["rank"], 3);
  EXPECT_EQ(t["local_rank"], 1);
  EXPECT_EQ(t["world_size"], 8);
  EXPECT_EQ(t["master_addr"], "10.1.2.3");
  EXPECT_TRUE(t["devices"].is_array());

  auto slurm = run_kiln({"env", "--json"}, {{"RANK", ""},
                                            {"WORLD_SIZE", ""},
                                            {"SLURM_STEP_ID", "0"},
                                            {"SLURM_PROCID", "2"},
                                            {"SLURM_LOCALID", "0"},
                                            {"SLURM_NTASKS", "4"},
                                            {"SLURM_JOB_NODELIST", "gpu[07-08]"}});
  ASSERT_EQ(slurm.exit_code, 0) << slurm.err;
  auto s = nlohmann::json::parse(slurm.out);
  EXPECT_EQ(s["source"], "slurm");
  EXPECT_EQ(s["rank"], 2);
  EXPECT_EQ(s["world_size"], 4);
  EXPECT_EQ(s["master_addr"], "gpu07");

  auto plain = run_kiln({"env"}, {{"RANK", ""}, {"WORLD_SIZE", ""}, {"SLURM_PROCID", ""}});
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_NE(plain.out.find("world size            1"), std::string::npos) << plain.out;

  auto bad = run_kiln({"env"}, {{"RANK", "x"}, {"WORLD_SIZE", "2"}});
  EXPECT_EQ(bad.exit_code, 78);
  EXPECT_NE(bad.last_err_line().find("RANK"), std::string::npos) << bad.err;
}

TEST(Cli, ConfigShowWithAnUnknownKeyExits78NamingIt) {
  auto run = run_kiln({"config", "show", "x.y=1"});
  EXPECT_EQ(run.exit_code, 78);
  EXPECT_NE(run.last_err_line().find("'x.y'"), std::string::npos) << run.err;
  auto typo = run_kiln({"config", "show", "run.sed=1"});
  EXPECT_EQ(typo.exit_code, 78);
  EXPECT_NE(typo.last_err_line().find("nearest known key: 'run.seed'"), std::string::npos)
      << typo.err;
  auto value = run_kiln({"config", "show", "log.level=loud"});
  EXPECT_EQ(value.exit_code, 78);
  EXPECT_NE(value.last_err_line().find("log.level"), std::string::npos) << value.err;
  auto missing = run_kiln({"config", "show", "--config", "/nonexistent/kiln.yaml"});
  EXPECT_EQ(missing.exit_code, 66);
  EXPECT_NE(missing.last_err_line().find("/nonexistent/kiln.yaml"), std::string::npos);
}

TEST(Cli, ConfigShowLayersFileAndOverrides) {
  auto run = run_kiln({"config", "show", "--json", "--config", kExample, "run.seed=7",
                       "+run.tags.team=risk", "~run.tags.owner"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto c = nlohmann::json::parse(run.out);
  EXPECT_EQ(c["run"]["experiment"], "example");
  EXPECT_EQ(c["run"]["seed"], 7);
  EXPECT_EQ(c["run"]["tags"]["team"], "risk");
  EXPECT_FALSE(c["run"]["tags"].contains("owner"));
  EXPECT_EQ(c["log"]["level"], "info");

  auto yaml = run_kiln({"config", "show", "-c", kExample});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_NE(yaml.out.find("experiment: example"), std::string::npos) << yaml.out;
}

// Every key the binary knows is documented in docs/CONFIG.md.
TEST(Cli, EveryConfigKeyIsDocumented) {
  auto run = run_kiln({"config", "keys", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::ifstream in(std::string(KILN_SOURCE_DIR) + "/docs/CONFIG.md");
  std::stringstream doc;
  doc << in.rdbuf();
  auto keys = nlohmann::json::parse(run.out);
  ASSERT_FALSE(keys.empty());
  for (const auto& k : keys) {
    std::string key = k["key"];
    EXPECT_NE(doc.str().find("`" + key + "`"), std::string::npos)
        << key << " missing in docs/CONFIG.md";
    EXPECT_FALSE(k["doc"].get<std::string>().empty()) << key;
  }
}

}  // namespace
}  // namespace kiln
