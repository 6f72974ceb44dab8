"""CNF fits trained together equal the same fits one by one, and fields that cannot be stacked
are refused."""

import pytest
import torch

from lib.data.toy import make_splits
from lib.flows.cnf import StandardizedField, fit
from lib.flows.cnf_ensemble import fit_together
from lib.nets.mlp import MLP


@pytest.mark.parametrize("standardize", [True, False])
def test_fit_together_equals_fits_one_by_one(standardize):
    """Three seeds of one network fitted as one ensemble: each member ends with the weights,
    losses, validation values and selected iteration of its own `fit`, to float rounding."""
    data = make_splits("laplace_mixture", 300, 200, 1, seed=0)
    seeds = [0, 1, 2]

    def field(seed: int):
        torch.manual_seed(seed)
        mlp = MLP(1, 1, [16, 16], "tanh")
        return StandardizedField.from_data(mlp, data.train) if standardize else mlp

    settings = dict(
        n_iters=30, batch_size=64, lr=0.1, n_steps=4, eval_every=5, eval_n_steps=6,
        kinetic_weight=0.01, progress=False,
    )  # fmt: skip
    alone, one_by_one = [field(s) for s in seeds], []
    for s, f in zip(seeds, alone):
        gen = torch.Generator().manual_seed(10 + s)
        one_by_one.append(fit(f, data.train, data.val, generator=gen, **settings))
    together = [field(s) for s in seeds]
    gens = [torch.Generator().manual_seed(10 + s) for s in seeds]
    results = fit_together(together, data.train, data.val, generators=gens, **settings)
    assert len({r.best_iter for r in one_by_one}) > 1  # the members select different iterations
    for a, b, fa, fb in zip(one_by_one, results, alone, together):
        assert b.best_iter == a.best_iter and b.val_iters == a.val_iters
        torch.testing.assert_close(b.train_loss, a.train_loss, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(b.val_values, a.val_values, rtol=1e-4, atol=1e-5)
        assert b.best_value == pytest.approx(a.best_value, rel=1e-5)
        assert type(fb) is type(fa)
        for (ka, va), (kb, vb) in zip(fa.state_dict().items(), fb.state_dict().items()):
            assert ka == kb
            torch.testing.assert_close(vb, va, rtol=1e-4, atol=1e-5)


def test_fit_together_refuses_fields_it_cannot_stack():
    data = make_splits("gaussian", 100, 50, 1, seed=0)
    mlp = MLP(1, 1, [4], "tanh")
    other = StandardizedField(MLP(1, 1, [4], "tanh"), torch.zeros(1), torch.ones(1))
    gens = [torch.Generator(), torch.Generator()]
    kw = dict(n_iters=1, batch_size=10, lr=0.01, n_steps=2, progress=False)
    with pytest.raises(ValueError, match="StandardizedFields of MLPs of one data set"):
        fit_together([mlp, other], data.train, data.val, generators=gens, **kw)
    with pytest.raises(ValueError, match="2 fields need 2 generators, got 1"):
        fit_together([mlp, mlp], data.train, data.val, generators=gens[:1], **kw)
