#include "core/topology.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "core/errors.h"

namespace kiln::core {
namespace {

int env_int(const GetEnv& getenv, const char* name, int fallback) {
  const char* text = getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text, &end, 10);
  KILN_CHECK(errno == 0 && *end == '\0' && value >= 0 && value <= 1 << 30, ConfigError,
             "environment variable ", name, ": expected a non-negative integer, got '", text, "'");
  return static_cast<int>(value);
}

bool has(const GetEnv& getenv, const char* name) {
  const char* text = getenv(name);
  return text != nullptr && *text != '\0';
}

// An address of this machine only: every rank that connects to it runs here.
bool is_loopback(std::string_view addr) {
  return addr == "localhost" || addr.starts_with("127.") || addr == "::1" || addr == "[::1]";
}

}  // namespace

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

std::string user_name() {
  if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') return user;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_name != nullptr)
    return pw->pw_name;
  return std::to_string(::getuid());
}

std::string first_slurm_host(std::string_view nodelist) {
  // The first entry ends at the first comma outside brackets.
  std::string host;
  bool in_brackets = false;
  bool skipping = false;  // inside brackets, past the first number of the first range
  for (char c : nodelist) {
    if (c == '[') {
      KILN_CHECK(!in_brackets, ConfigError, "SLURM_JOB_NODELIST '", nodelist, "': nested '['");
      in_brackets = true;
      skipping = false;
    } else if (c == ']') {
      KILN_CHECK(in_brackets, ConfigError, "SLURM_JOB_NODELIST '", nodelist, "': unmatched ']'");
      in_brackets = false;
    } else if (in_brackets) {
      if (c == '-' || c == ',')
        skipping = true;
      else if (!skipping)
        host.push_back(c);
    } else if (c == ',') {
      break;
    } else {
      host.push_back(c);
    }
  }
  KILN_CHECK(!in_brackets, ConfigError, "SLURM_JOB_NODELIST '", nodelist, "': unmatched '['");
  KILN_CHECK(!host.empty(), ConfigError, "SLURM_JOB_NODELIST '", nodelist, "': no host in it");
  return host;
}

Topology detect_topology(const GetEnv& getenv) {
  Topology t;
  if (has(getenv, "RANK") && has(getenv, "WORLD_SIZE")) {
    t.source = "torchrun";
    t.rank = env_int(getenv, "RANK", 0);
    t.local_rank = env_int(getenv, "LOCAL_RANK", 0);
    t.world_size = env_int(getenv, "WORLD_SIZE", 1);
    const char* addr = getenv("MASTER_ADDR");
    t.master_addr = addr ? addr : "";
    t.master_port = env_int(getenv, "MASTER_PORT", 0);
    if (has(getenv, "LOCAL_WORLD_SIZE"))
      t.local_world_size = env_int(getenv, "LOCAL_WORLD_SIZE", 1);
    else if (is_loopback(t.master_addr))
      t.local_world_size = t.world_size;  // started by hand on one machine
  } else if (has(getenv, "SLURM_PROCID") && has(getenv, "SLURM_NTASKS") &&
             !has(getenv, "SLURM_STEP_ID")) {
    // The batch script of `sbatch --ntasks=N`: it runs once, so waiting for N - 1 peers
    // would wait until the rendezvous timed out.
    if (const int tasks = env_int(getenv, "SLURM_NTASKS", 1); tasks > 1)
      t.note = "SLURM_NTASKS is " + std::to_string(tasks) +
               " but this is the job's batch script, not a task srun started: one process (run "
               "`srun kiln fit ...` in the script to train on " +
               std::to_string(tasks) + ")";
    return t;
  } else if (has(getenv, "SLURM_PROCID") && has(getenv, "SLURM_NTASKS")) {
    t.source = "slurm";
    t.rank = env_int(getenv, "SLURM_PROCID", 0);
    t.local_rank = env_int(getenv, "SLURM_LOCALID", 0);
    t.world_size = has(getenv, "SLURM_STEP_NUM_TASKS") ? env_int(getenv, "SLURM_STEP_NUM_TASKS", 1)
                                                       : env_int(getenv, "SLURM_NTASKS", 1);
    const char* nodes = getenv("SLURM_JOB_NODELIST");
    if (nodes == nullptr || *nodes == '\0') nodes = getenv("SLURM_NODELIST");
    if (has(getenv, "MASTER_ADDR"))
      t.master_addr = getenv("MASTER_ADDR");
    else if (nodes != nullptr && *nodes != '\0')
      t.master_addr = first_slurm_host(nodes);
    // Without MASTER_PORT, a port of the job's own (every task derives the same one).
    t.master_port = env_int(
        getenv, "MASTER_PORT",
        has(getenv, "SLURM_JOB_ID") ? 20000 + env_int(getenv, "SLURM_JOB_ID", 0) % 40000 : 0);
  } else {
    return t;
  }
  const char* world_var = t.source == "torchrun" ? "WORLD_SIZE" : "SLURM_NTASKS";
  KILN_CHECK(t.world_size >= 1, ConfigError, "environment variable ", world_var,
             ": expected at least 1, got ", t.world_size);
  KILN_CHECK(t.rank < t.world_size, ConfigError, "rank ", t.rank, " (from ",
             t.source == "torchrun" ? "RANK" : "SLURM_PROCID", ") is not below the world size ",
             t.world_size, " (from ", world_var, ")");
  KILN_CHECK(t.local_world_size >= 1 && t.local_world_size <= t.world_size, ConfigError,
             "environment variable LOCAL_WORLD_SIZE: expected 1 to the world size ", t.world_size,
             ", got ", t.local_world_size);
  return t;
}

Topology detect_topology() {
  return detect_topology([](const char* name) { return std::getenv(name); });
}

}  // namespace kiln::core
