#!/usr/bin/env python3
"""The peer of tests/bench/registry_bench.cpp: MLflow's model registry on its default local
store (MLflow 3: SQLite, mlflow.db in the working directory), on the same files.

  registry_peer.py CHECKPOINT DIR [--versions 1000] [--moves 1000] [--reps 3] [--kiln FILE]

Prints one JSON object, seconds per operation:
  register_s           a new version of a run's logged checkpoint directory (the artifacts
                       were logged before; MLflow neither copies nor verifies here):
                       MlflowClient.create_model_version, the call mlflow.register_model
                       makes (MLflow 3's register_model accepts only a "logged model", which
                       a directory of files is not)
  log_and_register_s   mlflow.log_artifacts of the checkpoint directory + create_model_version
                       (the files copied into MLflow's artifact store, as Kiln's --copy does)
  resolve_alias_s      MlflowClient.get_model_version_by_alias, with VERSIONS versions
  resolve_version_s    MlflowClient.get_model_version
  alias_move_s         MlflowClient.set_registered_model_alias
With --kiln (registry_bench's JSON), then one line per operation: Kiln, MLflow, the ratio.
"""
import argparse
import json
import logging
import os
import shutil
import statistics
import time
import warnings


def main():
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("dir")
    p.add_argument("--versions", type=int, default=1000)
    p.add_argument("--moves", type=int, default=1000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--kiln", help="registry_bench's JSON: print the comparison")
    a = p.parse_args()
    kiln = json.load(open(a.kiln)) if a.kiln else None
    checkpoint = os.path.abspath(a.checkpoint)
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    os.chdir(a.dir)  # its default store: ./mlflow.db, artifacts under ./mlruns
    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()

    def new_version(name, source, run_id):
        try:
            client.get_registered_model(name)
        except mlflow.exceptions.MlflowException:
            client.create_registered_model(name)
        return client.create_model_version(name, source, run_id)

    mlflow.set_experiment("registry-bench")
    register, log_and_register = [], []
    for _ in range(a.reps):
        with mlflow.start_run() as run:
            start = time.perf_counter()
            mlflow.log_artifacts(checkpoint, "model")
            logged = time.perf_counter() - start
            source = f"{run.info.artifact_uri}/model"
            start = time.perf_counter()
            new_version("big", source, run.info.run_id)
            registered = time.perf_counter() - start
        register.append(registered)
        log_and_register.append(logged + registered)

    small = os.path.join(a.dir, "small")
    os.makedirs(small)
    with open(os.path.join(small, "weights.bin"), "wb") as f:
        f.write(b"w" * 4096)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(small, "model")
        source, run_id = f"{run.info.artifact_uri}/model", run.info.run_id
    start = time.perf_counter()
    for _ in range(a.versions):
        new_version("many", source, run_id)
    fill = (time.perf_counter() - start) / a.versions
    client.set_registered_model_alias("many", "champion", "1")
    by_alias, by_version = [], []
    for _ in range(200):
        start = time.perf_counter()
        client.get_model_version_by_alias("many", "champion")
        by_alias.append(time.perf_counter() - start)
        start = time.perf_counter()
        client.get_model_version("many", str(a.versions // 2))
        by_version.append(time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(a.moves):
        client.set_registered_model_alias("many", "champion", str(1 + (i + 1) % a.versions))
    move = (time.perf_counter() - start) / a.moves
    peer = {"mlflow": mlflow.__version__,
                      "store": mlflow.get_tracking_uri(),
                      "register_s": min(register),
                      "log_and_register_s": min(log_and_register),
                      "versions": a.versions,
                      "register_small_s": fill,
                      "resolve_alias_s": statistics.median(by_alias),
                      "resolve_version_s": statistics.median(by_version),
                      "moves": a.moves,
                      "alias_move_s": move}
    print(json.dumps(peer))
    if kiln:
        mb = kiln["checkpoint_bytes"] / 1e6
        rows = [
            (f"register {mb:.0f} MB, hard links", "register_link_s",
             "create_model_version (no copy, no hash)", "register_s"),
            (f"register {mb:.0f} MB, copies", "register_copy_s",
             "log_artifacts + create_model_version", "log_and_register_s"),
            (f"register a small model, {a.versions} versions", "register_small_s",
             "create_model_version", "register_small_s"),
            (f"resolve NAME@ALIAS, {a.versions} versions", "resolve_alias_s",
             "get_model_version_by_alias", "resolve_alias_s"),
            (f"resolve NAME/vN, {a.versions} versions", "resolve_version_s",
             "get_model_version", "resolve_version_s"),
            (f"alias move (mean of {a.moves})", "alias_move_s",
             "set_registered_model_alias", "alias_move_s"),
        ]
        for what, k, call, m in rows:
            print(f"registry {what:<38} Kiln {kiln[k] * 1e3:9.3f} ms | MLflow {mlflow.__version__} "
                  f"{call} {peer[m] * 1e3:9.3f} ms | ratio {peer[m] / kiln[k]:7.1f}x")


if __name__ == "__main__":
    main()
