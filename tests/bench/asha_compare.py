"""ASHA against random search on the same space and budget (scripts/bench sweep).

Reads the two sweeps' report.json files and prints one line: random search's best trial and
the steps it spent, the steps ASHA had spent when its best completed trial first came within
`--within` of that value, and where ASHA ended.
"""
import argparse
import json
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("random_report")
    p.add_argument("asha_report")
    p.add_argument("--within", type=float, default=0.002)
    a = p.parse_args()
    rnd = json.load(open(a.random_report))
    asha = json.load(open(a.asha_report))
    target = rnd["best"]["value"] - a.within
    reached = next((e for e in asha["trajectory"]
                    if e["best_completed"] is not None and e["best_completed"] >= target), None)
    corr = [r.get("rank_correlation_with_next") for r in asha["rungs"][:-1]]
    out = {
        "random_trials": rnd["settings"]["trials"],
        "random_best": rnd["best"]["value"],
        "random_steps": rnd["steps_total"],
        "asha_trials": asha["settings"]["trials"],
        "asha_best": asha["best"]["value"],
        "asha_steps": asha["steps_total"],
        "asha_steps_to_within": reached["steps_total"] if reached else None,
        "rank_correlation": corr,
    }
    print(json.dumps(out), file=sys.stderr)
    frac = (f"{out['asha_steps_to_within'] / out['random_steps']:.2f} of random's steps"
            if reached else "never")
    print(f"sweep ASHA vs random (val AUROC): random {out['random_trials']} trials best "
          f"{out['random_best']:.4f} in {out['random_steps']} steps | ASHA {out['asha_trials']} "
          f"trials within {a.within} after {out['asha_steps_to_within']} steps ({frac}), best "
          f"{out['asha_best']:.4f} in {out['asha_steps']} steps | rung rank correlation "
          + ", ".join("n/a" if c is None else f"{c:.2f}" for c in corr))


if __name__ == "__main__":
    main()
