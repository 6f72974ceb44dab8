"""Report rendering: LaTeX-safe text, number formatting, sections discovered by file name, and
verdicts that follow their intervals."""

import re
import subprocess

import pytest

from report.render import (
    compact_params,
    fixed,
    flatten,
    gap_text,
    meansd,
    num,
    percent,
    pm,
    render,
    sections,
    tex,
    verdict_text,
    verdict_word,
)
from stages.report import _code_version

_NUMBER = r"-?[0-9.]+(?: \\times 10\^\{-?[0-9]+\})?"
_CLAIM = re.compile(rf"interval over seeds\s+\[\$({_NUMBER})\$, \$({_NUMBER})\$\]\):\s+([^.;]*)")


def _value(text: str) -> float:
    mantissa, _, exponent = text.partition(r" \times 10^{")
    return float(mantissa) * (10 ** int(exponent.rstrip("}")) if exponent else 1)


def interval_claims(tex_source: str) -> list[tuple[float, float, str]]:
    """Every (low, high, verdict) of a comparison sentence in a rendered report."""
    return [(_value(a), _value(b), v.strip()) for a, b, v in _CLAIM.findall(tex_source)]


def assert_claims_follow_their_intervals(tex_source: str) -> int:
    """A winner (or "below" / "above") only where the interval excludes 0, "not resolved" only
    where it includes 0; returns the number of claims checked."""
    claims = interval_claims(tex_source)
    for low, high, verdict in claims:
        includes_zero = low <= 0 <= high
        named = "better than" in verdict or verdict.startswith(("below", "above"))
        assert verdict.startswith("not resolved") == includes_zero, (low, high, verdict)
        assert named != includes_zero, (low, high, verdict)
    return len(claims)


def test_tex_escapes_specials():
    assert tex("laplace_mixture 50% #1 & {x}") == r"laplace\_mixture 50\% \#1 \& \{x\}"
    assert tex("a\\b~c^d") == r"a\textbackslash{}b\textasciitilde{}c\textasciicircum{}d"


def test_number_formats():
    assert num(0.25) == "0.25" and num(0.5) == "0.5"
    assert num(3.0e-5) == r"3.00 \times 10^{-5}"
    assert num(-2.1121, 4) == "-2.112"
    assert num(7) == "7" and num(None) == "--"
    assert fixed(-2.98536, 3) == "-2.985"
    assert percent(-0.01644, 2) == r"-1.64\%"
    assert num(211.0, 2) == "211" and num(-1234.5, 3) == "-1234"  # never "2.1e+02"


def test_flatten_nested_params():
    assert flatten({"a": {"b": 1, "c": {"d": [2]}}, "e": "x"}) == [
        ("a.b", 1),
        ("a.c.d", [2]),
        ("e", "x"),
    ]


def test_sections_in_file_name_order_and_missing_stages_skipped():
    names = sections()
    assert names == sorted(names) and names[0].startswith("sections/00_")
    run = {
        "device": "cpu",
        "runtime_s": 1.0,
        "host": {"python": "3", "torch": "2", "cpu_threads": 2, "machine": "x86_64"},
    }
    source = render(
        {
            "title": "T_1 100%",
            "author": "me",
            "commit": "abc",
            "dirty": False,
            "metrics": {"other_stage": {"run": run}},
            "params": {"other_stage": {"n_steps": 5, "name": "a_b"}},
            "manifest": {},
        }
    )
    assert r"\title{T\_1 100\%}" in source
    assert r"\section{SDE primer}" not in source  # no primer metrics, no primer section
    assert r"\texttt{name} & \texttt{a\_b}" in source
    assert source.rstrip().endswith(r"\end{document}")


def test_mean_and_sd_share_their_decimals_and_one_seed_is_said():
    """The sd to 2 significant digits, the mean to the same decimal place; one seed is named,
    never printed as "± 0"; several identical seeds are "± 0"."""
    assert meansd({"mean": -2.115997, "sd": 0.000421, "n": 3}) == r"$-2.11600 \pm 0.00042$"
    assert meansd({"mean": -2.1, "sd": 3.4, "n": 3}) == r"$-2.1 \pm 3.4$"
    assert meansd({"mean": 123.4, "sd": 45.6, "n": 2}) == r"$123 \pm 46$"
    assert meansd({"mean": 7.3e-4, "sd": 1.2e-4, "n": 3}) == r"$0.00073 \pm 0.00012$"
    assert meansd({"mean": -2.1186704, "sd": 0.0, "n": 1}) == "$-2.119$ (1 seed)"
    assert meansd({"mean": -2.12, "sd": 0.0, "n": 3}) == r"$-2.12 \pm 0$"
    tiny = meansd({"mean": 1e-9, "sd": 2e-10, "n": 3})
    assert tiny == r"$1.00 \times 10^{-9} \pm 2.0 \times 10^{-10}$"


def test_a_winner_is_named_only_when_the_interval_excludes_zero():
    resolved = {"difference": -0.5, "ci_low": -0.9, "ci_high": -0.1, "verdict": "lower"}
    text = verdict_text(resolved, "A", "B", better="lower")
    assert text.endswith("A better than B") and "[$-0.9$, $-0.1$]" in text
    assert verdict_text(resolved, "A", "B", better="higher").endswith("B better than A")
    unresolved = {**resolved, "ci_high": 0.2, "verdict": "not resolved"}
    assert verdict_text(unresolved, "A", "B", "lower").endswith(": not resolved")
    one_seed = {"difference": 0.01, "ci_low": None, "ci_high": None, "verdict": "not resolved"}
    assert verdict_text({**one_seed, "reason": "1 seed"}, "A", "B", "lower") == (
        "$0.01$: not resolved (1 seed)"
    )
    with pytest.raises(ValueError, match="better must be"):
        verdict_text(resolved, "A", "B", "smaller")


def test_value_plus_minus_standard_error():
    assert pm(0.33212, 0.83489) == r"$0.33 \pm 0.83$"
    assert pm(1.9154, 0.02779) == r"$1.915 \pm 0.028$"
    assert pm(-0.36, -0.84) == r"$-0.36 \pm 0.84$"  # a spread is printed positive
    assert pm(2.5, 0.0) == r"$2.5 \pm 0$"


def test_gap_and_verdict_words_follow_the_interval():
    below = {"difference": -0.034, "ci_low": -0.057, "ci_high": -0.012, "verdict": "lower"}
    text = gap_text(below, "the truth", "nats")
    assert text.endswith(": below the truth") and "[$-0.057$, $-0.012$]" in text
    inside = {**below, "ci_high": 0.002, "verdict": "not resolved", "reason": "interval includes 0"}
    assert gap_text(inside, "the truth").endswith(": not resolved from the truth")
    one = {"difference": 0.1, "ci_low": None, "ci_high": None, "verdict": "not resolved"}
    assert gap_text({**one, "reason": "1 seed"}, "the floor") == (
        "$0.1$: not resolved from the floor (1 seed)"
    )
    assert verdict_word(below, "lower", "higher") == "lower"
    assert verdict_word({**below, "verdict": "higher"}, "lower", "higher") == "higher"
    assert verdict_word(inside, "lower", "higher") == "not resolved"
    assert verdict_word({**one, "reason": "1 seed"}, "a", "b") == "not resolved (1 seed)"


def test_claims_are_checked_against_their_intervals_in_rendered_text():
    """The checker the end-to-end test runs on the real report: it reads back what the filters
    write, and it fails on a winner named over an interval that includes 0."""
    resolved = {"difference": -2e-4, "ci_low": -3.1e-4, "ci_high": -1e-4, "verdict": "lower"}
    unresolved = {**resolved, "ci_high": 5e-5, "verdict": "not resolved"}
    good = " ".join(
        [
            verdict_text(resolved, "A", "B", "lower") + ".",
            gap_text(unresolved, "the truth") + ".",
        ]
    )
    assert interval_claims(good) == [
        (-3.1e-4, -1e-4, "A better than B"),
        (pytest.approx(-3.1e-4), pytest.approx(5e-5), "not resolved from the truth"),
    ]
    assert assert_claims_follow_their_intervals(good) == 2
    forged = verdict_text(resolved, "A", "B", "lower").replace(
        r"$-1.0 \times 10^{-4}$", "$0.0002$"
    )  # a winner named over an interval that includes 0
    assert interval_claims(forged) == [(-3.1e-4, 0.0002, "A better than B")]
    with pytest.raises(AssertionError):
        assert_claims_follow_their_intervals(forged)


def test_params_compact_rows_leave_out_none():
    rows = compact_params({"seed": 0, "ema": None, "unet": {"channels": [32, 64], "x": None}})
    assert rows == [("seed", "0"), ("unet", "channels: [32, 64]")]
    assert compact_params({"lr": 0.0003, "on": True}) == [("lr", "0.0003"), ("on", "True")]


def test_code_version_is_dirty_for_code_edits_not_for_pipeline_outputs(tmp_path, monkeypatch):
    """The report says "uncommitted changes" for an edited lib file, not for results or the lock
    that `dvc repro` itself rewrites while the report renders."""

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    for name in ("lib/a.py", "results/x/metrics.json", "dvc.lock"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    monkeypatch.chdir(tmp_path)
    commit, dirty, epoch = _code_version()
    assert len(commit) == 12 and not dirty and epoch > 0
    (tmp_path / "results/x/metrics.json").unlink()
    (tmp_path / "dvc.lock").write_text("2\n")
    assert not _code_version()[1]
    (tmp_path / "lib/a.py").write_text("2\n")
    assert _code_version()[1]
