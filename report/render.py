"""Render the LaTeX report from metrics files and figures (Jinja2), and compile it with latexmk.

Templates use LaTeX-safe delimiters: \\VAR{x} for values, \\BLOCK{...} for statements,
\\#{...} for comments. Each section is its own file under templates/sections/, included in
file-name order, so a new stage adds a section without touching the others.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import torch

from lib.metrics.over_seeds import compare_over_seeds, compare_to_value
from lib.paths.schedules import make_schedule

TEMPLATES = Path(__file__).parent / "templates"

_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX_SPECIALS))


def tex(value) -> str:
    """Escape any value for LaTeX text mode (underscores, percent signs, ...)."""
    return _TEX_RE.sub(lambda m: _TEX_SPECIALS[m.group()], str(value))


def num(value, digits: int = 3) -> str:
    """A number for math mode: `digits` significant figures, scientific when tiny or huge."""
    if value is None:
        return "--"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return r"\infty" if v > 0 else (r"-\infty" if v < 0 else r"\mathrm{NaN}")
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        mantissa, exp = f"{v:.{digits - 1}e}".split("e")
        return rf"{mantissa} \times 10^{{{int(exp)}}}"
    text = f"{v:.{digits}g}"
    return f"{v:.0f}" if "e" in text else text  # 211 with 2 digits: "211", not "2.1e+02"


def fixed(value, decimals: int = 3) -> str:
    """A number with a fixed number of decimals (for tables of log-likelihoods)."""
    return "--" if value is None else f"{float(value):.{decimals}f}"


def meansd(stat: dict) -> str:
    """{"mean", "sd", "n"} over seeds as LaTeX: "$m \\pm s$" with s to 2 significant digits and m
    to the same decimal place; "$m$ (1 seed)" when there is one seed (no "± 0" that would read as
    an exact value); "$m \\pm 0$" when several seeds agree exactly."""
    mean, sd, n = float(stat["mean"]), float(stat["sd"]), int(stat["n"])
    if n == 1:
        return rf"${num(mean, 4)}$ (1 seed)"
    return pm(mean, sd)


def pm(value, spread) -> str:
    """ "$v \\pm s$": s to 2 significant digits and v to the same decimal place (s = 0: v to 4
    significant digits)."""
    value, spread = float(value), float(spread)
    if spread == 0:
        return rf"${num(value, 4)} \pm 0$"
    decimals = 1 - math.floor(math.log10(abs(spread)))
    if decimals > 6:  # tiny spreads: significant digits, scientific where num() uses it
        return rf"${num(value, 3)} \pm {num(spread, 2)}$"
    decimals = max(decimals, 0)
    return rf"${value:.{decimals}f} \pm {abs(spread):.{decimals}f}$"


def verdict_text(comparison: dict, a: str, b: str, better: str, level: float = 0.95) -> str:
    """A `compare_over_seeds` result as text: the difference, its interval, and "a better than
    b" (or the reverse) only when the interval excludes 0 on one side; `better` is the verdict
    ("lower" or "higher") that favours a. Otherwise "not resolved" with the reason."""
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    d = f"${num(comparison['difference'], 2)}$"
    if comparison["ci_low"] is None:
        return f"{d}: not resolved ({comparison['reason']})"
    interval = _with_interval(d, comparison, "Welch", level)
    if comparison["verdict"] == "not resolved":
        return f"{interval}: not resolved"
    winner, loser = (a, b) if comparison["verdict"] == better else (b, a)
    return f"{interval}: {winner} better than {loser}"


def _with_interval(difference: str, comparison: dict, kind: str, level: float) -> str:
    """ "d (95% <kind> interval over seeds [low, high])", the form the report's checker reads."""
    low, high = num(comparison["ci_low"], 2), num(comparison["ci_high"], 2)
    return rf"{difference} ({100 * level:g}\% {kind} interval over seeds [${low}$, ${high}$])"


def gap_text(comparison: dict, reference: str, unit: str = "", level: float = 0.95) -> str:
    """A `compare_to_value` result as text: the gap to `reference`, its t interval over seeds, and
    "below" / "above" the reference only when the interval excludes 0, else "not resolved"."""
    unit = f" {unit}" if unit else ""
    d = f"${num(comparison['difference'], 2)}${unit}"
    if comparison["ci_low"] is None:
        return f"{d}: not resolved from {reference} ({comparison['reason']})"
    interval = _with_interval(d, comparison, "t", level)
    if comparison["verdict"] == "not resolved":
        return f"{interval}: not resolved from {reference}"
    side = "below" if comparison["verdict"] == "lower" else "above"
    return f"{interval}: {side} {reference}"


def verdict_word(comparison: dict, lower: str, higher: str) -> str:
    """A comparison's verdict in one phrase: `lower` / `higher` when its interval excludes 0 on
    that side, else "not resolved" (with the reason when no interval could be formed)."""
    verdict = comparison["verdict"]
    if verdict == "lower":
        return lower
    if verdict == "higher":
        return higher
    reason = comparison.get("reason")
    if reason and reason != "interval includes 0":
        return f"not resolved ({reason})"
    return "not resolved"


def snr(schedule: str, t: float) -> float:
    """The signal-to-noise ratio alpha_t / sigma_t of a named schedule (inf where sigma_t = 0)."""
    tt = torch.tensor([float(t)], dtype=torch.float64)
    s = make_schedule(schedule)
    alpha, sigma = s.alpha(tt).item(), s.sigma(tt).item()
    return math.inf if sigma == 0 else alpha / sigma


def percent(value, decimals: int = 1) -> str:
    return rf"{100 * float(value):.{decimals}f}\%"


def flatten(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dict -> [(dotted.key, value)] in insertion order."""
    rows = []
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        rows += flatten(value, name) if isinstance(value, dict) else [(name, value)]
    return rows


def compact_params(tree: dict) -> list[tuple[str, str]]:
    """A stage's params as (key, short text) rows: one row per top-level key, nested mappings
    inline as "k: v" pairs, lists comma-joined, None values left out."""

    def text(value) -> str:
        if isinstance(value, dict):
            return "; ".join(f"{k}: {text(v)}" for k, v in value.items() if v is not None)
        if isinstance(value, list | tuple):
            return "[" + ", ".join(text(v) for v in value) + "]"
        return f"{value:g}" if isinstance(value, float) else str(value)

    return [(str(k), text(v)) for k, v in tree.items() if v is not None]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(
        tex=tex,
        num=num,
        fixed=fixed,
        meansd=meansd,
        pm=pm,
        compare_seeds=compare_over_seeds,
        compare_value=compare_to_value,
        gap_text=gap_text,
        snr=snr,
        verdict_word=verdict_word,
        verdict_text=verdict_text,
        percent=percent,
        flatten=flatten,
        compact_params=compact_params,
        log2=math.log2,
    )
    return env


def sections() -> list[str]:
    return sorted(
        p.relative_to(TEMPLATES).as_posix() for p in (TEMPLATES / "sections").glob("*.tex.j2")
    )


def render(context: dict) -> str:
    """The whole report as LaTeX source."""
    return environment().get_template("report.tex.j2").render(**context, sections=sections())


def compile_pdf(tex_path: Path, source_date_epoch: int) -> Path | None:
    """latexmk -pdf in tex_path's folder; None (with a warning) when latexmk is not installed.

    SOURCE_DATE_EPOCH / FORCE_SOURCE_DATE pin the dates pdfTeX embeds, so the same source gives
    the same PDF.
    """
    if shutil.which("latexmk") is None:
        print(
            "warning: latexmk not found; wrote the LaTeX source only. Install TeX Live "
            "(Debian: apt-get install latexmk texlive-latex-extra) to get the PDF."
        )
        return None
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(source_date_epoch), "FORCE_SOURCE_DATE": "1"}
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-quiet", tex_path.name]
    result = subprocess.run(cmd, cwd=tex_path.parent, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        log = tex_path.with_suffix(".log")
        text = log.read_text(errors="replace") if log.exists() else result.stdout
        first_error = text.find("\n!")
        excerpt = text[first_error : first_error + 1500] if first_error >= 0 else text[-1500:]
        raise RuntimeError(f"latexmk failed on {tex_path}:\n{excerpt}")
    subprocess.run(
        ["latexmk", "-c", tex_path.name],
        cwd=tex_path.parent,
        env=env,
        capture_output=True,
        check=True,
    )
    return tex_path.with_suffix(".pdf")
