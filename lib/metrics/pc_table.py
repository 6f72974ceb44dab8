"""The predictor / corrector table scored on the yardstick, beside Song et al.'s (2021, Table 1)
CIFAR-10 FIDs, and which of the paper's orderings our digits reproduce.

The paper's values are on another dataset, network and feature space: they set the expected
ordering of the cells, never a value to match. An ordering is "reproduced" when the paired KID
difference's interval excludes zero in the paper's direction, "reversed" when it excludes zero
in the other direction, and "not resolved" otherwise.
"""

from __future__ import annotations

from lib.infra import layout
from lib.metrics.yardstick import Score, Yardstick, compare

# CIFAR-10 FID of Song et al. (2021), Table 1: N = 1000 (P1000, P2000, C2000, PC1000).
# C2000 is one value per SDE (the corrector alone uses no predictor).
PAPER_FID = {
    "ve": {
        "ancestral_sampling": {"p_n": 4.98, "p_2n": 4.88, "pc_n": 3.62},
        "reverse_diffusion": {"p_n": 4.79, "p_2n": 4.74, "pc_n": 3.60},
        "probability_flow": {"p_n": 15.41, "p_2n": 10.54, "pc_n": 3.51},
        "c_2n": 20.43,
    },
    "vp": {
        "ancestral_sampling": {"p_n": 3.24, "p_2n": 3.24, "pc_n": 3.21},
        "reverse_diffusion": {"p_n": 3.21, "p_2n": 3.19, "pc_n": 3.18},
        "probability_flow": {"p_n": 3.59, "p_2n": 3.23, "pc_n": 3.06},
        "c_2n": 19.06,
    },
}
PAPER_N = 1000

# The paper's orderings checked in every row: (better cell, worse cell, what it says).
ROW_ORDERINGS = (
    ("pc_n", "p_n", "PC N beats P N"),
    ("pc_n", "p_2n", "PC N beats P 2N at the same NFE"),
    ("p_2n", "c_2n", "C 2N is worse than P 2N at the same NFE"),
)
# ... and the probability-flow predictor improving with more steps (VE 15.41 -> 10.54).
FLOW_ORDERING = ("p_2n", "p_n", "probability flow improves from N to 2N levels")


def verdict_vs_paper(verdict: str) -> str:
    """'reproduced', 'reversed' or 'not resolved' for a paired KID verdict of better - worse."""
    return {"lower": "reproduced", "higher": "reversed"}.get(verdict, "not resolved")


def orderings(
    scores: dict[tuple[str, str, str], Score], sdes, predictors, level: float = 0.95
) -> list[dict]:
    """Every ordering of the paper checked by the paired KID difference better - worse."""
    out = []
    for sde in sdes:
        for predictor in predictors:
            checks = list(ROW_ORDERINGS)
            if predictor == "probability_flow":
                checks.append(FLOW_ORDERING)
            for better, worse, claim in checks:
                a, b = (_score(scores, sde, predictor, v) for v in (better, worse))
                d = compare(a, b, level)
                out.append(
                    {
                        "sde": sde,
                        "predictor": predictor,
                        "claim": claim,
                        "better": better,
                        "worse": worse,
                        "kid_difference": d,
                        "outcome": verdict_vs_paper(d["verdict"]),
                    }
                )
    return out


def _score(scores, sde: str, predictor: str, variant: str) -> Score:
    sampler = "corrector_only" if variant == "c_2n" else predictor
    return scores[(sde, sampler, variant)]


def tally(checks: list[dict]) -> dict[str, int]:
    """How many orderings were reproduced, reversed and not resolved."""
    outcomes = [c["outcome"] for c in checks]
    return {k: outcomes.count(k) for k in ("reproduced", "reversed", "not resolved")} | {
        "total": len(outcomes)
    }


def check_inputs(p, train_p, stick: Yardstick) -> None:
    """Every SDE has a model, the DDPM chain is defined at N levels, and the pooled cells are
    large enough for the yardstick (p: sample_score_sde params, train_p: train_score_sde's)."""
    sdes = train_p.sdes
    files = [layout.model("train_score_sde", s) for s in sdes]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise SystemExit(f"error: sample_score_sde needs {missing}: run train_score_sde")
    if "vp" in sdes and p.n_steps <= train_p.vp.beta_max:
        raise SystemExit(
            f"error: sample_score_sde.n_steps = {p.n_steps}: the VP model's DDPM chain has "
            f"beta_i up to beta_max / N, which needs N > train_score_sde.vp.beta_max = "
            f"{train_p.vp.beta_max}"
        )
    pooled = p.n_images * len(p.seeds)
    if pooled < stick.chunk:
        raise SystemExit(
            f"error: sample_score_sde.n_images = {p.n_images} times {len(p.seeds)} seeds = "
            f"{pooled} images per cell; the yardstick's real set has {stick.chunk}, and a scored "
            "set needs at least that many"
        )


def describe(cell) -> dict:
    """A cell's settings (no images)."""
    return {
        "sde": cell.sde,
        "sampler": cell.sampler,
        "variant": cell.variant,
        "n_steps": cell.n_steps,
        "nfe": cell.nfe,
        "seconds": cell.seconds,
    }


def cells_to_dict(cells: dict, scores: dict[tuple[str, str, str], Score], level: float) -> dict:
    """{sde: {sampler: {variant: settings and scores}}}: nested, since DVC flattens on dots."""
    out: dict = {}
    for (sde, sampler, variant), cell in cells.items():
        entry = {**describe(cell), **scores[(sde, sampler, variant)].to_dict(level)}
        out.setdefault(sde, {}).setdefault(sampler, {})[variant] = entry
    return out
