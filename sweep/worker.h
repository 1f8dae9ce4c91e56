// Sweep workers (docs/SWEEPS.md): `kiln sweep worker` pulls trials from the journal until
// none remain, each one a `kiln fit` child process; `kiln sweep run` starts N of them on
// this machine. No LibTorch: trials run in their own processes, so a crashing trial cannot
// take its worker down.
#pragma once

#include <string>
#include <vector>

namespace kiln::sweep {

struct WorkerOptions {
  std::string dir;   // the sweep directory
  std::string id;    // the worker's name in the journal; empty: worker_identity()
  std::string kiln;  // the kiln binary that runs trials (`kiln fit`)
  // A node_exporter textfile kept up to date: the sweep's trials by state, this worker's
  // state, runs and heartbeat (docs/SWEEPS.md); "": none.
  std::string metrics_file;
};

// The worker's name: "slurm-<array job>_<task>" from SLURM_ARRAY_JOB_ID and
// SLURM_ARRAY_TASK_ID, "k8s-<JOB_COMPLETION_INDEX>-<HOSTNAME>" in a Kubernetes indexed
// job, else "<host>-<pid>". Names must be unique among live workers: a worker that finds
// trials held under its own name takes them as its earlier life's and requeues them.
std::string worker_identity();

// Pulls and runs trials until the sweep is done; returns 0 then. While a trial runs the
// worker heartbeats in the journal every heartbeat_s; if its claim was revoked (it was
// silent too long and the trial went to another worker) it kills its trial and goes on.
// SIGTERM, SIGUSR1 or SIGINT are passed to the running trial, which checkpoints; the trial
// is requeued and the worker returns 75 (resumable). A trial that fails (any other exit)
// is recorded as failed with its exit code and reason and the worker goes on.
int run_worker(const WorkerOptions& options);

struct LaunchOptions {
  std::string dir;
  int workers = 1;
  std::vector<std::string> gpus;  // CUDA_VISIBLE_DEVICES of worker i: gpus[i % size]
  int trials_per_gpu = 0;  // > 0: gpus.size() x trials_per_gpu workers (instead of `workers`)
  std::string kiln;
};

// Starts `workers` local `kiln sweep worker` processes, passes SIGTERM, SIGUSR1 and SIGINT
// on to them, waits for all, and returns 75 if any was stopped by a signal, else the first
// non-zero exit code, else 0.
int run_workers(const LaunchOptions& options);

}  // namespace kiln::sweep
