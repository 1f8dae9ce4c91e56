// Where this process sits in a multi-process job, from the launcher's environment.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace kiln::core {

struct Topology {
  int rank = 0;        // global rank of this process
  int local_rank = 0;  // rank among the processes on this host
  int world_size = 1;  // number of processes in the job
  // Processes of the job on this host, where the launcher says (LOCAL_WORLD_SIZE) or every
  // rank is (MASTER_ADDR a loopback address); 1 where unknown (Slurm: its CPU binding decides).
  int local_world_size = 1;
  std::string master_addr;      // host of rank 0 ("" when single-process)
  int master_port = 0;          // 0 when not given
  std::string source = "none";  // "torchrun", "slurm" or "none"
  // Why variables of a launcher were not taken as a job of several processes (a Slurm batch
  // script of N tasks is one process); "" when nothing was set aside.
  std::string note;
};

using GetEnv = std::function<const char*(const char*)>;

// torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT) when RANK and WORLD_SIZE are set; else, in a task srun started (SLURM_STEP_ID
// set), Slurm's (SLURM_PROCID, SLURM_LOCALID, SLURM_STEP_NUM_TASKS else SLURM_NTASKS, the
// first host of SLURM_JOB_NODELIST, MASTER_PORT, else 20000 + SLURM_JOB_ID mod 40000); else
// a single process (a batch script has its job's SLURM_PROCID and SLURM_NTASKS but is one
// process: `note` says so when SLURM_NTASKS is over 1). Throws ConfigError naming the
// variable when a value is not a number, the rank is outside the world or LOCAL_WORLD_SIZE
// exceeds it.
Topology detect_topology(const GetEnv& getenv);
Topology detect_topology();

// This machine's host name (gethostname), "" when it has none.
std::string host_name();
// The user this process runs as: $USER, else the password database's name, else the uid.
std::string user_name();

// The first host of a Slurm node list: "gpu[003-005,9],cpu1" -> "gpu003".
// Throws ConfigError on unbalanced brackets or an empty list.
std::string first_slurm_host(std::string_view nodelist);

}  // namespace kiln::core
