"""Build ``published.csv`` from the project's source documents: parse each table, never type a number.

``python -m harness.references.seeds SEEDS_DIR [-o FILE]`` reads the five source
documents (``../shared/seeds``: BaLeNAS's full text, VIM-NAS's tables, the
RobustDARTS and NSA slides), turns every table number a recipe compares against
into a row, adds ``extra.csv`` (numbers from official repositories, each with its
repository, path and commit), marks rows that disagree with another source as
``disputed`` and writes the canonical, sorted CSV. The shipped file is this
command's output (a test rebuilds it from the seeds and compares).

Columns: ``method, benchmark, dataset, split, metric, setting, value, std, n,
statistic, source, table, protocol, disputed``; ``value``/``std`` keep the printed
text (the decimals set the rounding). ``statistic``: ``mean`` over ``n`` runs,
``min`` over ``n``, ``selected`` (one architecture picked from the runs),
``population`` (over the whole space, ``n`` its size), ``exact`` (a property of
the benchmark), ``single`` (one number, no uncertainty stated).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

COLUMNS = ("method", "benchmark", "dataset", "split", "metric", "setting", "value", "std", "n", "statistic",
           "source", "table", "protocol", "disputed")
STATISTICS = ("mean", "min", "selected", "population", "exact", "single")
EXTRA = Path(__file__).with_name("extra.csv")
SEEDS = {"nsa": "000_8129179aa660dc63.txt", "vimnas": "001_96bd632969ef13ad.txt",
         "balenas": "003_7a8af820127c02fc.txt", "robustdarts": "004_99cfd43cf598c46d.txt"}
BALENAS = "Zhang et al., BaLeNAS (CVPR 2022), seed " + SEEDS["balenas"]
NB201_QUOTED = "Dong & Yang, NAS-Bench-201 (ICLR 2020) Table 5, as quoted in " + BALENAS
VIMNAS = "Wang et al., VIM-NAS (ICCV 2021), seed " + SEEDS["vimnas"]
RDARTS = "Zela et al., RobustDARTS (ICLR 2020) slides, seed " + SEEDS["robustdarts"]
NSA = "Deng et al., NSA (thudzj/NSA) slides, seed " + SEEDS["nsa"]
NB201_COLS = (("cifar10", "valid"), ("cifar10", "test"), ("cifar100", "valid"), ("cifar100", "test"),
              ("ImageNet16-120", "valid"), ("ImageNet16-120", "test"))
PAIR = re.compile(r"(\d+(?:\.\d+)?)±plus-or-minus\\pm(\d+(?:\.\d+)?)")
#: BaLeNAS Section 4.1.1: "4 independent search experiments with four different random seeds" (its own rows).
BALENAS_N = "4"
#: The rows of BaLeNAS Table 1 that are the NAS-Bench-201 paper's (shared/seeds/README.md).
NB201_METHODS = ("ENAS", "RandomNAS", "SETN", "GDAS", "DARTS (1st)", "DARTS (2nd)")
NB201_PROTOCOL = "searched on CIFAR-10, 200-epoch NB-201 ground truth"


def _segment(text: str, start: str, end: str) -> str:
    """The text from the first ``start`` to the next ``end`` after it; ``ValueError`` when either is missing."""
    i = text.index(start)
    return text[i:text.index(end, i + len(start))]


def _row(method, benchmark, dataset, split, metric, value, std="", n="", statistic="mean", source="", table="",
         protocol="", setting="") -> dict[str, str]:
    if statistic not in STATISTICS:
        raise ValueError(f"statistic {statistic!r} not one of {STATISTICS}")
    return {"method": method, "benchmark": benchmark, "dataset": dataset, "split": split, "metric": metric,
            "setting": setting, "value": value, "std": std, "n": n, "statistic": statistic, "source": source,
            "table": table, "protocol": protocol, "disputed": ""}


def _nb201_line(line: str, method: str, table: str, cols=NB201_COLS, **kw) -> list[dict[str, str]]:
    pairs = PAIR.findall(line)
    if not pairs:  # "optimal": plain numbers
        pairs = [(v, "") for v in re.findall(r"\d+\.\d+", line)]
    if len(pairs) != len(cols):
        raise ValueError(f"{table} row {method!r}: {len(pairs)} values, expected {len(cols)}")
    return [_row(method, "nb201", ds, sp, "accuracy", v, s, table=table, **kw) for (ds, sp), (v, s) in zip(cols, pairs)]


def _balenas_kind(method: str) -> dict[str, str]:
    if method == "optimal":
        return {"statistic": "exact", "source": BALENAS, "protocol": "the best NB-201 architecture"}
    if method == "Random baseline":
        return {"statistic": "population", "n": "15625", "source": BALENAS,
                "protocol": "accuracy of a uniformly drawn NB-201 architecture; n is the space's size (the paper "
                            "does not say over how many architectures)"}
    if method in NB201_METHODS:
        return {"source": NB201_QUOTED, "n": "3",
                "protocol": NB201_PROTOCOL + "; n = 3 runs: the NB-201 paper's 'mean and std of 3 runs for RSPS, "
                                             "DARTS, GDAS, SETN, and ENAS', quoted and confirmed by its author in "
                                             "D-X-Y/AutoDL-Projects issue #70; BN tracking not stated (the paper "
                                             "reports both)"}
    if method.startswith("BaLeNAS"):
        return {"n": BALENAS_N, "source": BALENAS, "protocol": NB201_PROTOCOL + "; 4 seeds (Section 4.1.1)"}
    return {"source": BALENAS, "protocol": NB201_PROTOCOL + "; run count not stated"}


def _label(line: str) -> str:
    head = re.split(r"\d+\.\d+", line, maxsplit=1)[0]
    return re.sub(r"\s*\[\d+\]\s*", " ", head).strip()


def balenas(text: str) -> list[dict[str, str]]:
    """BaLeNAS Tables 1, 2, 4 and 5 (NB-201 accuracy, %)."""
    rows: list[dict[str, str]] = []
    t1 = _segment(text, "Table 1: Comparison results", "4 Experiments and Results").splitlines()[3:]
    for line in filter(str.strip, t1):
        m = _label(line)
        rows += _nb201_line(line, m, "Table 1", **_balenas_kind(m))
    t2 = _segment(text, "Table 2: Ablation study on the sample size.", "Table 3:").splitlines()[3:]
    for line in filter(str.strip, t2):
        name, size = re.match(r"(.+?)\((\d+)\)", _label(line)).groups()
        m = f"{name.strip()} (SynFlow, N={size})"  # Section 4.1.2: Table 2's proxy is Synflow
        kind = _balenas_kind("BaLeNAS" if name.startswith("BaLeNAS") else name)
        rows += _nb201_line(line, m, "Table 2", tuple(c for c in NB201_COLS if c[1] == "test"), **kind)
    t4 = _segment(text, "Table 4: Zero-cost NAS and FreeDARTS", "APPENDIX:").splitlines()[3:]
    proxy = ""
    for line in filter(str.strip, t4):
        label = _label(line)
        if label.startswith("BaLeNAS with "):
            proxy = {"snip": "SNIP", "grasp": "GraSP", "synflow": "SynFlow"}[label.split()[2].lower()]
            label = label.split()[3]
        m = "BaLeNAS" if label.startswith("BaLeNAS") else f"BaLeNAS-TF ({proxy}, N={label})"
        rows += _nb201_line(re.sub(r"^BaLeNAS( with \w+)? ", "", line), m, "Table 4", **_balenas_kind("BaLeNAS"))
    t5 = _segment(text, "Table 5: Ablation study on the MCMC", "As to the most common").splitlines()[3:]
    for line in filter(str.strip, t5):
        mc = re.match(r"M=(\d)", line)
        m = f"BaLeNAS (2nd, M={mc.group(1)})" if mc else _label(line)
        kind = _balenas_kind("BaLeNAS" if mc else m)
        if m == "DARTS (2nd)":
            kind = {**kind, "protocol": kind["protocol"] + "; printed with ENAS's Table 1 values"}
        rows += _nb201_line(line[len(mc.group(0)) * 3:] if mc else line, m, "Table 5", **kind)
    return rows


VIMNAS_METHODS = ("DARTS", "R-DARTS(DP)", "R-DARTS(L2)", "DARTS-ES", "DARTS-ADA", "DARTS-", "VIM-NAS",
                  "PC-DARTS", "SDARTS-RS", "SDARTS-ADV", "DARTS-", "VIM-NAS")
#: VIM-NAS Table 4 caption: the first seven columns under RobustDARTS's evaluation sizes, the rest 20 x 36.
RD_SIZES, WIDE = "RobustDARTS eval sizes", "20 layers, 36 channels"


def vimnas(text: str) -> list[dict[str, str]]:
    """VIM-NAS Table 4 (S1-S4 x CIFAR-10/100 test error, lowest of 4 found architectures, two settings) and
    Table 1's CIFAR-10 column (DARTS space)."""
    rows: list[dict[str, str]] = []
    body = [ln for ln in _segment(text, "\nBenci", "Table 4.").splitlines() if re.search(r"\tS[1-4]\t", ln)]
    if len(body) != 8:
        raise ValueError(f"VIM-NAS Table 4: {len(body)} rows, expected 8")
    for i, line in enumerate(body):
        cells = line.split("\t")
        space, values = cells[1].lower(), cells[2:]
        ds = "cifar10" if i < 4 else "cifar100"
        if len(values) != 12 or (cells[0] and cells[0] != ("C10" if i < 4 else "C100")):
            raise ValueError(f"VIM-NAS Table 4 row {line!r}")
        for j, (m, v) in enumerate(zip(VIMNAS_METHODS, values)):
            setting = RD_SIZES if j < 7 else WIDE
            rows.append(_row(m, space, ds, "test", "error", v, n="4", statistic="min", source=VIMNAS,
                             table="Table 4", setting=setting,
                             protocol=f"lowest test error of 4 found architectures, retrained under {setting}"))
    t1 = _segment(text, "Arcintecture\tCIFAR-10", "Table 1.")
    for line in t1.splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) < 2 or not re.match(r"\$?\\?(textbf\{)?\d", cells[1]):
            continue
        nums = re.findall(r"\d+\.\d+", cells[1])
        method = re.sub(r"\s*\[.*?\]\s*", " ", cells[0]).replace("$", "").strip()
        rows.append(_row(method, "darts", "cifar10", "test", "error", nums[0], nums[1] if len(nums) > 1 else "",
                         statistic="mean" if len(nums) > 1 else "single", source=VIMNAS, table="Table 1",
                         protocol="DARTS space, searched on CIFAR-10, retrained (as VIM-NAS quotes it)"))
    return rows


RDARTS_METHODS = ("RS-ws", "DARTS", "R-DARTS(DP)", "R-DARTS(L2)", "DARTS-ES", "DARTS-ADA")
RD_DATASETS = {"C10": "cifar10", "C100": "cifar100", "SVHN": "svhn"}


def robustdarts(text: str) -> list[dict[str, str]]:
    """RobustDARTS slides: S1-S4 retrained test error (slide 25), DARTS vs DARTS-ES mean +- std (slide 21,
    page 12), the eigenvalue correlations (slides 20 and 23)."""
    rows: list[dict[str, str]] = []
    tok = _segment(text, "slide-25", "slide-26").split()
    ds = ""
    for i, t in enumerate(tok):
        if t in RD_DATASETS:
            ds = RD_DATASETS[t]
        elif re.fullmatch(r"S[1-4]", t) and ds:
            for m, v in zip(RDARTS_METHODS, tok[i + 1:i + 7]):
                rows.append(_row(m, t.lower(), ds, "test", "error", v, statistic="selected", source=RDARTS,
                                 table="slide 25", setting=RD_SIZES,
                                 protocol="test error of the selected architecture after retraining"))
    tok = _segment(text, "Benchmark DARTS DARTS-ES", "Arber").split()
    for i, t in enumerate(tok):
        if t in RD_DATASETS:
            ds = RD_DATASETS[t]
        elif re.fullmatch(r"S[1-4]", t):
            a, _, sa, b, _, sb = tok[i + 1:i + 7]
            for m, v, s in (("DARTS", a, sa), ("DARTS-ES", b, sb)):
                rows.append(_row(m, t.lower(), ds, "test", "error", v, s, source=RDARTS, table="slide 21",
                                 setting=RD_SIZES, protocol="mean +- std over searches (run count not stated)"))
    pearson = re.search(r"Pearson corr\. coef\.: ([\d.]+)", _segment(text, "slide-20", "slide-21")).group(1)
    spearman = re.search(r"Spearman corr\. coef\.: ([\d.]+)", _segment(text, "slide-23", "slide-24")).group(1)
    rows.append(_row("DARTS", "s1", "cifar10", "test", "pearson_avg_eigenvalue_vs_test_error", pearson,
                     statistic="single", source=RDARTS, table="slide 20",
                     protocol="Pearson of the average dominant eigenvalue over the search and the retrained "
                              "test error, S1 CIFAR-10 searches"))
    rows.append(_row("DARTS", "s1-s4", "all", "valid", "spearman_eigenvalue_vs_accuracy_drop", spearman,
                     statistic="single", source=RDARTS, table="slide 23",
                     protocol="Spearman of the dominant eigenvalue and the validation accuracy drop from the "
                              "supernet to the discretised architecture (search-model weights)"))
    return rows


def nsa(text: str) -> list[dict[str, str]]:
    """NSA's WRN-28-10 table: test error (%) and ECE on CIFAR-10 / CIFAR-100 ("-" cells are not rows)."""
    rows: list[dict[str, str]] = []
    body = _segment(text, "Method\t# params", "\nMethod\tOOD").splitlines()[2:]
    cols = (("cifar10", "error"), ("cifar10", "ece"), ("cifar100", "error"), ("cifar100", "ece"))
    for line in filter(str.strip, body):
        cells = line.split("\t")
        # "[†]" marks NSA's own runs; "[49]" etc. are citations
        method = re.sub(r"\s*\[\d+\]", "", cells[0].replace("[\u2020]", "(NSA's run)")).replace(" ,", ",").strip()
        for (ds, metric), v in zip(cols, cells[2:6]):
            if v.strip() != "-":
                rows.append(_row(method, "wrn-28-10", ds, "test", metric, v.strip(), statistic="single",
                                 source=NSA, table="WRN-28-10 table", protocol="WRN-28-10 on the whole test set"))
    return rows


def mark_disputed(df: pd.DataFrame) -> pd.DataFrame:
    """``disputed`` names the other sources/tables whose value or std for the same quantity (and statistic) differs."""
    key = ["method", "benchmark", "dataset", "split", "metric", "setting", "statistic"]
    df = df.copy()
    for _, g in df.groupby(key, sort=False):
        if len(g[["value", "std"]].drop_duplicates()) > 1:
            for i in g.index:
                other = g[(g["value"] != g.at[i, "value"]) | (g["std"] != g.at[i, "std"])]
                df.at[i, "disputed"] = "; ".join(f"{r.value}±{r.std} in {r.table} ({r.source.split(',')[0]})"
                                                 for r in other.itertuples())
    return df


def build(seeds_dir: str | Path) -> pd.DataFrame:
    """Every row: the seeds' tables plus ``extra.csv``, disputes marked, in a stable order."""
    seeds_dir = Path(seeds_dir)
    text = {k: (seeds_dir / f).read_text(encoding="utf-8") for k, f in SEEDS.items()}
    rows = balenas(text["balenas"]) + vimnas(text["vimnas"]) + robustdarts(text["robustdarts"]) + nsa(text["nsa"])
    extra = pd.read_csv(EXTRA, dtype=str, keep_default_na=False)
    df = pd.concat([pd.DataFrame(rows, columns=list(COLUMNS)), extra[list(COLUMNS)]], ignore_index=True)
    return mark_disputed(df)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seeds_dir")
    ap.add_argument("-o", "--out", default=str(Path(__file__).with_name("published.csv")))
    args = ap.parse_args(argv)
    build(args.seeds_dir).to_csv(args.out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
