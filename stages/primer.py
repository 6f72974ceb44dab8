"""Stage primer: Brownian motion, Ornstein–Uhlenbeck and Langevin dynamics by Euler–Maruyama."""

from __future__ import annotations

from lib.infra.io import write_csv
from lib.infra.stage import run_stage, seeded_generator, value_key
from lib.plots import primer as primer_plots
from lib.sde import primer


def main(p, device, out):
    gen = seeded_generator(p.seed, device)
    orders = primer.solver_orders(p.solvers.methods, p.solvers.n_steps)
    bm_runs = primer.brownian(p.brownian, device, gen)
    ou_runs = primer.ornstein_uhlenbeck(p.ou, device, gen)
    lv = primer.langevin(p.langevin, device, gen)

    primer_plots.solver_orders(orders, out / "figures" / "solver_orders.pdf")
    primer_plots.brownian_paths(bm_runs, out / "figures" / "brownian_paths.pdf")
    primer_plots.ou_paths(ou_runs, p.ou.stationary_variance, out / "figures" / "ou_paths.pdf")
    primer_plots.langevin_convergence(lv, out / "figures" / "langevin.pdf")

    # DVC plots: every run's variance over time, normalised so that theory is one curve shape.
    stride = max(len(bm_runs[0].t) // 100, 1)
    write_csv(
        out / "plots" / "brownian_variance.csv",
        _long(bm_runs, stride, "sigma", scale=lambda r: r.label**2),
    )
    stride = max(len(ou_runs[0].t) // 100, 1)
    write_csv(
        out / "plots" / "ou_variance.csv", _long(ou_runs, stride, "theta", scale=lambda r: 1.0)
    )
    write_csv(
        out / "plots" / "langevin_convergence.csv",
        {
            "t": lv.t,
            "ks": lv.ks,
            "ks_exact_sample": [lv.ks_floor] * len(lv.t),
            "energy_distance": lv.energy,
        },
    )

    write_csv(
        out / "plots" / "solver_errors.csv",
        {
            "n_steps": [n for r in orders for n in r.n_steps],
            "method": [r.method for r in orders for _ in r.n_steps],
            "error": [e for r in orders for e in r.errors],
        },
    )
    return {
        "solvers": {
            r.method: {"observed_order": r.order, "error_at_max_steps": r.errors[-1]}
            for r in orders
        },
        "brownian": {
            value_key("sigma", r.label): {"sigma": r.label, **_variance_metrics(r)} for r in bm_runs
        },
        "ou": {
            value_key("theta", r.label): {
                "theta": r.label,
                **_variance_metrics(r),
                "stationary_variance": p.ou.stationary_variance,
            }
            for r in ou_runs
        },
        "langevin": {
            "ks": lv.ks[-1].item(),
            "ks_exact_sample": lv.ks_floor,
            "ks_exact_sample_sd": lv.ks_floor_draws.std().item(),
            "ks_exact_share_below": _share_below(lv.ks_floor_draws, lv.ks[-1]),
            "energy_distance": lv.energy[-1].item(),
            "energy_distance_exact_sample": lv.energy_floor,
            "energy_distance_exact_sample_sd": lv.energy_floor_draws.std().item(),
            "energy_distance_exact_share_below": _share_below(lv.energy_floor_draws, lv.energy[-1]),
            "n_exact_draws": len(lv.ks_floor_draws),
            "ks_at_start": lv.ks[0].item(),
        },
    }


def _share_below(draws, value) -> float:
    """The share of exact samples' distances below the Langevin particles' (0.5: typical of an
    exact sample; near 1: further from the target than exact samples get)."""
    return (draws < value).double().mean().item()


def _variance_metrics(r) -> dict:
    emp, theo = r.var_empirical[-1].item(), r.var_theory[-1].item()
    return {
        "t_end": r.t[-1].item(),
        "var_empirical": emp,
        "var_theory": theo,
        "var_rel_error": emp / theo - 1,
        "mean_abs_error": r.mean_error[-1].item(),
    }


def _long(runs, stride: int, name: str, scale) -> dict:
    """Rows (t, swept value, empirical and theoretical variance / scale) for a DVC scatter plot."""
    cols = {"t": [], name: [], "var_empirical": [], "var_theory": []}
    for r in runs:
        idx = slice(None, None, stride)
        cols["t"] += r.t[idx].tolist()
        cols[name] += [r.label] * len(r.t[idx])
        cols["var_empirical"] += (r.var_empirical[idx] / scale(r)).tolist()
        cols["var_theory"] += (r.var_theory[idx] / scale(r)).tolist()
    return cols


if __name__ == "__main__":
    run_stage("primer", main)
