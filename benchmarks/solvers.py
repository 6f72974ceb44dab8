"""Throughput of the shared solvers on the current device (DEVICE env): steps x samples per second.

Run: python -m benchmarks.solvers   (prints a table; not a test)
"""

from __future__ import annotations

import time

import torch

from lib.infra.device import get_device
from lib.sde.solvers import euler_maruyama, odeint, time_grid


def _timed(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    device = get_device()
    n_steps = 200
    grid = time_grid(0.0, 1.0, n_steps, device)
    drift = lambda x, t: -t * x  # noqa: E731
    sigma = lambda x, t: torch.ones_like(x)  # noqa: E731
    gen = torch.Generator(device=device).manual_seed(0)
    print(f"device: {device}, threads: {torch.get_num_threads()}, {n_steps} steps")
    print(f"{'solver':<16}{'batch x dim':>14}{'seconds':>10}{'M sample-steps/s':>18}")
    for batch, dim in [(1_000, 2), (100_000, 2), (10_000, 64)]:
        x0 = torch.randn(batch, dim, device=device)
        runs = {m: (lambda m=m, x0=x0: odeint(drift, x0, grid, m)) for m in ("euler", "rk2", "rk4")}
        runs["euler_maruyama"] = lambda x0=x0: euler_maruyama(drift, sigma, x0, grid, gen)
        for name, fn in runs.items():
            s = _timed(fn)
            print(f"{name:<16}{f'{batch} x {dim}':>14}{s:>10.4f}{batch * n_steps / s / 1e6:>18.2f}")


if __name__ == "__main__":
    main()
