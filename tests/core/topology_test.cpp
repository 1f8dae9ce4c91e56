#include "core/topology.h"

#include <gtest/gtest.h>

#include <map>

#include "core/errors.h"

namespace kiln::core {
namespace {

Topology detect(const std::map<std::string, std::string>& env) {
  return detect_topology([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(Topology, ASingleProcessWithoutLauncherVariables) {
  Topology t = detect({});
  EXPECT_EQ(t.source, "none");
  EXPECT_EQ(t.rank, 0);
  EXPECT_EQ(t.world_size, 1);
}

TEST(Topology, ReadsTorchrunVariablesFirst) {
  Topology t = detect({{"RANK", "5"},
                       {"LOCAL_RANK", "1"},
                       {"WORLD_SIZE", "8"},
                       {"MASTER_ADDR", "node7"},
                       {"MASTER_PORT", "29500"},
                       {"SLURM_PROCID", "0"},
                       {"SLURM_NTASKS", "2"}});
  EXPECT_EQ(t.source, "torchrun");
  EXPECT_EQ(t.rank, 5);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.world_size, 8);
  EXPECT_EQ(t.master_addr, "node7");
  EXPECT_EQ(t.master_port, 29500);
  EXPECT_EQ(t.local_world_size, 1);  // not said, and node7 may be another host
}

// How many ranks share this host: torchrun's LOCAL_WORLD_SIZE, else every rank when they
// meet at a loopback address (a job started by hand on one machine).
TEST(Topology, CountsTheRanksOnThisHost) {
  std::map<std::string, std::string> env = {
      {"RANK", "1"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  EXPECT_EQ(detect(env).local_world_size, 4);
  env["MASTER_ADDR"] = "localhost";
  EXPECT_EQ(detect(env).local_world_size, 4);
  env["LOCAL_WORLD_SIZE"] = "2";
  EXPECT_EQ(detect(env).local_world_size, 2);
  env["LOCAL_WORLD_SIZE"] = "5";
  EXPECT_THROW(detect(env), ConfigError);
  EXPECT_EQ(detect({{"SLURM_PROCID", "1"},
                    {"SLURM_NTASKS", "2"},
                    {"SLURM_STEP_ID", "0"},
                    {"MASTER_ADDR", "127.0.0.1"}})
                .local_world_size,
            1);  // Slurm binds each task's CPUs
}

TEST(Topology, FallsBackToSlurmWithTheFirstHostOfTheNodeList) {
  Topology t = detect({{"SLURM_PROCID", "3"},
                       {"SLURM_LOCALID", "3"},
                       {"SLURM_NTASKS", "8"},
                       {"SLURM_STEP_ID", "0"},
                       {"SLURM_STEP_NUM_TASKS", "4"},
                       {"SLURM_JOB_NODELIST", "gpu[003-005,9],cpu1"}});
  EXPECT_EQ(t.source, "slurm");
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.local_rank, 3);
  EXPECT_EQ(t.world_size, 4);  // the step's tasks
  EXPECT_EQ(t.master_addr, "gpu003");
  EXPECT_EQ(t.note, "");
}

// sbatch --ntasks=4 runs its script once, with the job's SLURM_PROCID 0 and SLURM_NTASKS 4
// and no step: one process, and a note saying why (not a wait for 3 peers that never come).
TEST(Topology, ASlurmBatchScriptIsOneProcessSayingWhy) {
  Topology t = detect({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_JOB_ID", "77"}});
  EXPECT_EQ(t.source, "none");
  EXPECT_EQ(t.world_size, 1);
  EXPECT_NE(t.note.find("SLURM_NTASKS is 4 but this is the job's batch script"), std::string::npos)
      << t.note;
  EXPECT_EQ(detect({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}}).note, "");
}

TEST(Topology, ParsesSlurmNodeLists) {
  EXPECT_EQ(first_slurm_host("node1"), "node1");
  EXPECT_EQ(first_slurm_host("node1,node2"), "node1");
  EXPECT_EQ(first_slurm_host("a[01-04]"), "a01");
  EXPECT_EQ(first_slurm_host("a[7,2-3]"), "a7");
  EXPECT_EQ(first_slurm_host("rack[2-3]-gpu[10-11]"), "rack2-gpu10");
  EXPECT_EQ(first_slurm_host("x-1.cluster"), "x-1.cluster");
  EXPECT_THROW(first_slurm_host("a[1-2"), ConfigError);
  EXPECT_THROW(first_slurm_host("a]1"), ConfigError);
  EXPECT_THROW(first_slurm_host(""), ConfigError);
}

TEST(Topology, BadValuesNameTheVariable) {
  try {
    detect({{"RANK", "two"}, {"WORLD_SIZE", "4"}});
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("RANK"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("'two'"), std::string::npos);
  }
  EXPECT_THROW(detect({{"RANK", "4"}, {"WORLD_SIZE", "4"}}), ConfigError);
  EXPECT_THROW(detect({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "0"}, {"SLURM_STEP_ID", "0"}}),
               ConfigError);
  EXPECT_THROW(detect({{"RANK", "-1"}, {"WORLD_SIZE", "4"}}), ConfigError);
}

}  // namespace
}  // namespace kiln::core
