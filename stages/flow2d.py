"""Stage flow2d: flow matching, score matching and data-to-data flows on 2D toy data."""

from __future__ import annotations

import torch

from lib.data.toy import expected_log_likelihood, load_splits
from lib.flows import cnf, flow_matching, score_matching
from lib.infra import layout
from lib.infra.device import get_device
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage, save_fit, seeded_generator, value_key
from lib.metrics.distances import energy_distance, mean_sd, mmd_rbf
from lib.nets.mlp import MLP
from lib.paths.gaussian import GaussianPath, make_schedule
from lib.plots import flows_2d as flows_2d_plots
from lib.sde import samplers

MODELS = layout.MODELS / "flow2d"


def splits_of(name: str, device):
    return load_splits(layout.toy_data(2, name), device)


def build(net, device) -> MLP:
    return MLP(2, 2, net.hidden, net.activation, net.n_freq).to(device)


def distances(x: torch.Tensor, ref: torch.Tensor) -> dict:
    return {"mmd": mmd_rbf(x, ref), "energy": energy_distance(x, ref)}


def flow_job(job: tuple) -> dict:
    """One flow-matching model (one variant, one seed): train, fine-tune, score; the main
    variant also gets the steps sweep and a score model for SDE sampling."""
    p, variant, seed = job
    device = get_device()
    v, e = p.variants[variant], p.eval
    data = splits_of(p.dataset, device)
    test = data.test[: e.n_test]
    path = GaussianPath(make_schedule(v.schedule))
    torch.manual_seed(seed)
    net = build(p.network, device)
    gen = seeded_generator(seed, device)
    fm = flow_matching.fit(
        net,
        path,
        data.train,
        n_iters=v.n_iters,
        batch_size=v.batch_size,
        lr=v.lr,
        generator=gen,
        coupling=v.coupling,
        lr_schedule=v.lr_schedule,
        ema_decay=v.ema_decay,
        progress=False,
    )
    out = {"job": (variant, seed), "loss": fm.train_loss, "fm_seconds": fm.seconds}
    if v.finetune is not None:
        f = v.finetune
        ft = cnf.fit(
            net,
            data.train,
            data.val[: e.n_test],
            n_iters=f.n_iters,
            batch_size=f.batch_size,
            lr=f.lr,
            n_steps=f.n_steps,
            method="rk4",
            eval_every=f.eval_every,
            eval_n_steps=f.val_n_steps,
            validate_start=True,
            generator=torch.Generator().manual_seed(seed),
            progress=False,
        )
        out["finetune_seconds"] = ft.seconds
    out["log_likelihood"] = cnf.log_prob(net, test, e.ll_n_steps, "rk4").double().mean().item()
    x0 = torch.randn(e.n_samples, 2, generator=gen, device=device)
    x1 = samplers.ode_sample(net, x0, e.sample_n_steps, e.sample_method)
    out |= distances(x1, data.test[: e.n_samples])
    if variant == p.main_variant:
        out["sweep"] = {
            m: [mmd_rbf(samplers.ode_sample(net, x0, n, m), test) for n in e.sweep_n_steps]
            for m in e.sweep_methods
        }
        out |= score_job(p, path, net, data, x0, gen)
    out["state"] = {k: t.cpu() for k, t in net.state_dict().items()}
    return out


def score_job(p, path, velocity, data, x0, gen) -> dict:
    """A noise-predicting score model, and SDE samples dX = [u + sigma^2 s / 2] dt + sigma dW."""
    s = p.score
    net = build(p.network, x0.device)
    fit = score_matching.fit(
        net,
        path,
        data.train,
        n_iters=s.n_iters,
        batch_size=s.batch_size,
        lr=s.lr,
        generator=gen,
        loss=s.loss,
        progress=False,
    )
    score = score_matching.score_fn(net, path)
    ref = data.test[: len(x0)]
    sde = {}
    for sigma in s.sigmas:
        x = samplers.sde_sample(velocity, score, sigma, x0, s.n_steps, gen)
        sde[value_key("sigma", sigma)] = {"sigma": sigma, **distances(x, ref)}
    return {"score_loss": fit.train_loss, "sde": sde, "score_state": net.state_dict()}


def transport_job(job: tuple) -> dict:
    """A data-to-data flow source -> target with one coupling: samples vs Euler steps."""
    p, source, target, coupling, seed = job
    device = get_device()
    t = p.transport
    src, tgt = splits_of(source, device), splits_of(target, device)
    path = GaussianPath(make_schedule(t.schedule))
    torch.manual_seed(seed)
    net = build(p.network, device)
    gen = seeded_generator(seed, device)
    fit = flow_matching.fit(
        net,
        path,
        tgt.train,
        n_iters=t.n_iters,
        batch_size=t.batch_size,
        lr=t.lr,
        generator=gen,
        source=src.train,
        coupling=coupling,
        progress=False,
    )
    x0 = src.test[: p.eval.n_samples]
    ref = tgt.test[: p.eval.n_samples]
    fine = samplers.ode_sample(net, x0, max(t.sweep_n_steps), "euler", return_path=True)
    return {
        "job": (source, target, coupling, seed),
        "loss": fit.train_loss,
        "mmd": [mmd_rbf(samplers.ode_sample(net, x0, n, "euler"), ref) for n in t.sweep_n_steps],
        "straightness": samplers.straightness(fine).item(),
        "path": fine[:, : p.eval.n_plot].cpu(),
    }


JOBS = {"flow": flow_job, "transport": transport_job}


def run_job(job: tuple) -> dict:
    return JOBS[job[0]](job[1:])


def corruption(p, device, out) -> dict:
    """The same data points corrupted along each schedule's path at the chosen times, and the
    structure left: energy distance of x_t to fresh noise over that of the data (1 at t = 1)."""
    c = p.corruption
    gen = seeded_generator(p.seeds[0], device)
    z = splits_of(p.dataset, device).train[: c.n_points]
    eps, noise = torch.randn((2, *z.shape), generator=gen, device=device)
    rows, left = {}, {}
    for name in c.schedules:
        path = GaussianPath(make_schedule(name))
        xs = [path.sample(z, t, eps).x_t for t in c.times]
        rows[name] = [x.cpu().numpy() for x in xs]
        scale = energy_distance(z, noise)
        left[name] = {
            value_key("t", t): energy_distance(x, noise) / scale for t, x in zip(c.times, xs)
        }
    flows_2d_plots.corruption_2d(rows, c.times, out / "figures" / "corruption.png")
    return left


def main(p, device, out):
    for name in {p.dataset, *(n for pair in p.transport.pairs for n in pair)}:
        if not (layout.toy_data(2, name)).exists():
            raise SystemExit(
                f"error: flow2d uses 2D dataset {name!r}, but data/two_d/{name}.npz does not "
                "exist: add it to data.two_d.datasets in params.yaml"
            )
    structure_left = corruption(p, device, out)
    jobs = [("flow", p, name, s) for name, v in p.variants.items() for s in v.seeds or p.seeds]
    t = p.transport
    jobs += [("transport", p, a, b, c, s) for a, b in t.pairs for c in t.couplings for s in t.seeds]
    results = map_jobs(run_job, jobs, device)
    flows = [r for r in results if len(r["job"]) == 2]
    transports = [r for r in results if len(r["job"]) == 4]
    e = p.eval
    data = splits_of(p.dataset, device)
    test = data.test[: e.n_test]
    truth = expected_log_likelihood(p.dataset, test.cpu()).mean
    floor = distances(data.val[: e.n_samples], data.test[: e.n_samples])

    variants = {}
    for name in p.variants:
        runs = [r for r in flows if r["job"][0] == name]
        ll = mean_sd([r["log_likelihood"] for r in runs])
        variants[name] = {
            "log_likelihood": ll,
            "gap": ll["mean"] - truth,
            "mmd": mean_sd([r["mmd"] for r in runs]),
            "energy": mean_sd([r["energy"] for r in runs]),
            "train_seconds": mean_sd([r["fm_seconds"] for r in runs])["mean"],
        }
        for r in runs:
            net = build(p.network, device)
            net.load_state_dict(r["state"])
            r["net"] = net
            save_fit(out, MODELS / f"{name}_seed{r['job'][1]}.pt", net, r["loss"], [], "", [])
    main = [r for r in flows if r["job"][0] == p.main_variant]
    net = main[0]["net"]
    path = GaussianPath(make_schedule(p.variants[p.main_variant].schedule))
    tight = cnf.log_prob(net, test, e.tight_n_steps, "rk4").double().mean().item()

    figures_main(p, path, main[0], data, device, out)
    sweep = {
        m: [mean_sd([r["sweep"][m][i] for r in main])["mean"] for i in range(len(e.sweep_n_steps))]
        for m in e.sweep_methods
    }
    flows_2d_plots.metric_vs_nfe(
        {m: ([samplers.nfe(m, n) for n in e.sweep_n_steps], v) for m, v in sweep.items()},
        floor["mmd"],
        "MMD to test",
        out / "figures" / "mmd_vs_nfe.png",
    )
    sde = {
        k: {"sigma": v["sigma"], "mmd": mean_sd([r["sde"][k]["mmd"] for r in main])}
        for k, v in main[0]["sde"].items()
    }
    flows_2d_plots.metric_vs_sigma(
        [v["sigma"] for v in sde.values()],
        [v["mmd"]["mean"] for v in sde.values()],
        floor["mmd"],
        "MMD to test",
        out / "figures" / "mmd_vs_sigma.png",
    )
    headline = variants[p.main_variant]
    return {
        "dataset": p.dataset,
        "truth": truth,
        "log_likelihood": headline["log_likelihood"],
        "gap": headline["gap"],
        "ll_solver_error": abs(main[0]["log_likelihood"] - tight),
        "mmd": headline["mmd"],
        "energy": headline["energy"],
        "floor": floor,
        "corruption": structure_left,
        "variants": variants,
        "n_steps": {
            m: {value_key("steps", n): v for n, v in zip(e.sweep_n_steps, vals)}
            for m, vals in sweep.items()
        },
        "sde": sde,
        "transport": transport_summary(p, transports, device, out),
    }


def figures_main(p, path, run, data, device, out) -> None:
    """True conditional path vs generated states, trajectories, SDE samples per sigma, losses."""
    e, figs = p.eval, out / "figures"
    gen = seeded_generator(p.seeds[0] + 1, device)
    z = data.test[: e.n_plot]
    eps = torch.randn(z.shape, generator=gen, device=device)
    x0 = torch.randn(z.shape, generator=gen, device=device)
    ode = samplers.ode_sample(run["net"], x0, e.plot_n_steps, e.plot_method, return_path=True)
    times = p.corruption.times
    true_x = [path.sample(z, t, eps).x_t.cpu().numpy() for t in times]
    gen_x = [ode[round(t * e.plot_n_steps)].cpu().numpy() for t in times]
    flows_2d_plots.path_vs_generated(true_x, gen_x, times, figs / "path_vs_generated.png")
    flows_2d_plots.trajectories_2d(
        {f"{e.plot_method}, {e.plot_n_steps} steps": ode.cpu().numpy()}, figs / "trajectories.png"
    )
    score_net = build(p.network, device)
    score_net.load_state_dict(run["score_state"])
    score = score_matching.score_fn(score_net, path)
    panels = {}
    for sigma in p.score.sigmas:
        x = samplers.sde_sample(run["net"], score, sigma, x0, p.score.n_steps, gen)
        panels[rf"$\sigma = {sigma:g}$"] = x.cpu().numpy()
    flows_2d_plots.samples_2d(panels, figs / "sde_samples.png")
    flows_2d_plots.loss_curves(
        {"flow matching": run["loss"], "score (noise)": run["score_loss"]}, figs / "losses.png"
    )


def transport_summary(p, runs, device, out) -> dict:
    """Per pair and coupling: MMD to the target vs Euler steps, straightness; figures."""
    t, summary, panels = p.transport, {}, {}
    for source, target in t.pairs:
        key = f"{source}_to_{target}"
        curves = {}
        summary[key] = {}
        for coupling in t.couplings:
            rs = [r for r in runs if r["job"][:3] == (source, target, coupling)]
            mmd = [mean_sd([r["mmd"][i] for r in rs])["mean"] for i in range(len(t.sweep_n_steps))]
            summary[key][coupling] = {
                "mmd": {value_key("steps", n): v for n, v in zip(t.sweep_n_steps, mmd)},
                "straightness": mean_sd([r["straightness"] for r in rs]),
            }
            curves[coupling] = (t.sweep_n_steps, mmd)
            panels[f"{source} to {target}\n{coupling}"] = rs[0]["path"].numpy()
        ref = splits_of(target, device)
        floor = mmd_rbf(ref.val[: p.eval.n_samples], ref.test[: p.eval.n_samples])
        summary[key]["floor_mmd"] = floor
        flows_2d_plots.metric_vs_nfe(
            curves, floor, "MMD to target", out / "figures" / f"{key}_mmd.png"
        )
    flows_2d_plots.trajectories_2d(panels, out / "figures" / "transport.png")
    return summary


if __name__ == "__main__":
    run_stage("flow2d", main, threads=1)  # small 2D MLPs: one thread per worker process
