"""What every figure shares: the house style and a deterministic, atomic PNG save."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lib.infra.io import atomic_path

plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.titlesize": 9})


def save(fig, path: str | Path) -> None:
    """PNG without a timestamp, written atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
