"""Table 2 from stored records: numbers recomputed independently, winner/tie rule, files."""
import csv
import json
import math
import statistics

import numpy as np
import pytest

from astra_np.study.report import format_markdown, paired_p_value, summarize, write_report
from astra_np.study.store import ResultsStore

METHODS = ["bce", "gmn", "bce-astra", "gmn-astra"]


def _make_results(path, values, dataset="toy"):
    """Write a results directory whose metric values are values[method] (one per fold)."""
    store = ResultsStore(path)
    store.open({"dataset": dataset}, "0.0.0")
    n = len(next(iter(values.values())))
    for i in range(n):
        for m in values:
            store.append({"dataset": dataset, "repeat": i // 5, "rotation": i % 5, "method": m,
                          "g_mean": values[m][i], "mcc": values[m][i] / 2,
                          "history": {"log10_e_ratio": [0.1 * i, -0.2]}})
    store.close()


def test_exact_wilcoxon_p_values():
    # Six positive differences with distinct ranks: exact two-sided p = 2 / 2**6.
    # Exact arithmetic result; rtol 1e-12 for float rounding, atol 0.
    np.testing.assert_allclose(paired_p_value([2, 3, 4, 5, 6, 7], [1, 1, 1, 1, 1, 1]), 2 / 64,
                               rtol=1e-12, atol=0)
    assert paired_p_value([0.5, 0.5], [0.5, 0.5]) == 1.0  # every fold tied
    # zero differences are dropped (zero_method="wilcox"): the same as without them
    np.testing.assert_allclose(  # same computation twice: rtol 1e-15, atol 0
        paired_p_value([2, 3, 4, 5, 6, 7, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]), 2 / 64, rtol=1e-15, atol=0)


def test_table_recomputed_independently(tmp_path):
    rng = np.random.default_rng(0)
    values = {m: [float(v) for v in np.round(rng.random(20), 3)] for m in METHODS}
    _make_results(tmp_path, values)
    files = write_report(str(tmp_path), figure=False)
    assert {p.rsplit("/", 1)[-1] for p in files} == {"table.md", "table.csv", "pvalues.csv"}
    # Independent recomputation from the raw JSON lines with the standard library.
    raw = [json.loads(line) for line in (tmp_path / "folds.jsonl").read_text().splitlines()]
    with open(tmp_path / "table.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8
    md = (tmp_path / "table.md").read_text()
    for row in rows:
        xs = [r[row["metric"]] for r in raw if r["method"] == row["method"]]
        assert int(row["n_folds"]) == len(xs) == 20
        # fsum vs numpy pairwise sums of 20 numbers differ by a few ulps: rtol 1e-12, atol 1e-15.
        np.testing.assert_allclose(float(row["mean"]), math.fsum(xs) / len(xs), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(float(row["std"]), statistics.stdev(xs), rtol=1e-12, atol=1e-15)
        assert f"{statistics.mean(xs):.3f} ({statistics.stdev(xs):.3f})" in md


def test_winner_rule_win_and_tie(tmp_path):
    base = [0.1 * k for k in range(1, 21)]
    values = {
        "bce": [v + 0.5 for v in base],  # better than every other on every fold
        "gmn": base,
        "bce-astra": [v + 0.01 * (k % 3 - 1) for k, v in enumerate(base)],
        "gmn-astra": base,
    }
    values = {m: [v / 5 for v in vs] for m, vs in values.items()}  # G-Means in [0, 1]
    _make_results(tmp_path, values)
    records = ResultsStore(tmp_path).load()
    s = summarize(records)
    gm = next(x for x in s if x["metric"] == "g_mean")
    assert gm["best"] == "bce" and gm["bold"] == ["bce"] and gm["result"] == "win"
    assert all(gm["p"][m] <= 0.05 for m in METHODS[1:])
    # Without the dominant method, the rest cannot be separated: a tie.
    s2 = summarize([r for r in records if r["method"] != "bce"])
    gm2 = next(x for x in s2 if x["metric"] == "g_mean")
    assert gm2["result"] == "tie" and len(gm2["bold"]) == 3
    md = format_markdown(s)
    assert "| G-Mean | **" in md and "Wilcoxon" in md and "p <= 0.05" in md
    assert md.count("**") // 2 == 1 + 1 + 1  # dataset name + one bold cell per metric row


def test_several_data_sets_in_one_table(tmp_path):
    for name in ("a-100", "b-500"):
        _make_results(tmp_path / name, {m: [0.5, 0.6, 0.7, 0.2, 0.9] for m in METHODS}, dataset=name)
    out = tmp_path / "combined"
    write_report([str(tmp_path / "a-100"), str(tmp_path / "b-500")], out_dir=str(out), figure=False)
    md = (out / "table.md").read_text()
    assert md.index("**a-100**") < md.index("**b-500**")
    with open(out / "pvalues.csv", newline="") as fh:
        prow = list(csv.DictReader(fh))
    assert len(prow) == 2 * 2 * 6 and {float(r["p_value"]) for r in prow} == {1.0}


def test_fig4_written_when_matplotlib_available(tmp_path):
    pytest.importorskip("matplotlib")
    _make_results(tmp_path, {m: [0.5, 0.6, 0.7, 0.2, 0.9] for m in METHODS})
    files = write_report(str(tmp_path))
    png = [p for p in files if p.endswith(".png")]
    assert len(png) == 1 and png[0].endswith("fig4_toy.png")
    assert (tmp_path / "fig4_toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_meta_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no meta.json"):
        write_report(str(tmp_path), figure=False)
