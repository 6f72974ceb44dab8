"""Stage metrics: every headline number of the pipeline in one DVC metrics file, gathered from
the stages' metrics (bits/dim from the bits_per_dim stage); nothing is recomputed here."""

from __future__ import annotations

from lib.infra.stage import RESULTS, run_stage
from lib.metrics.headline import gather


def main(p, device, out):
    return gather(RESULTS)  # fails, naming the stage and key, when a headline is missing


if __name__ == "__main__":
    run_stage("metrics", main)
