"""The recipes: one per published table or figure the harness serves (``harness reproduce --list``).

Plans name optimizers and spaces; their hyperparameters come from the protocol
presets (``harness protocol SPACE OPTIMIZER``), never restated here. Published
numbers live in ``harness/references/published.csv``; ``missing`` says which
of a table's numbers the stored public sources lack.
"""

from __future__ import annotations

from harness.recipes.executors import PROXY_LABELS, rows_for
from harness.recipes.recipe import Need, Part, Published, Recipe, Row
from search_spaces.errors import ConfigError

NB201_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
#: BaLeNAS Tables 2 and 4: sample sizes N = 10 / 50 / 100 (seed 003).
SIZES = (10, 50, 100)
#: BaLeNAS Section 4.1.1: "4 independent search experiments with four different random seeds"; VIM-NAS Table 4:
#: "the lowest error rate of 4 found architectures".
FOUR_SEEDS = (0, 1, 2, 3)
#: BaLeNAS Table 4's proxies (appendix B).
PROXIES = ("snip", "grasp", "synflow")
#: Zero-cost NAS's scoring batch: SamsungLabs/zero-cost-nas nasbench2_pred.py (--batch_size 64, one batch,
#: PyTorch's default initialisation); SynFlow on the network without BN, SNIP and GraSP with it, in train mode.
ZC_BATCH = 64
#: Path-dropout rates of the dropout study: ours (Bender et al.'s own grid is not in the stored sources).
R_MAX = (0.0, 0.1, 0.2, 0.3, 0.5)
NB201 = Need("benchmark_file", "NB-201 ground truth (--benchmark-file: the official NAS-Bench-201 .pth, a NATS-tss "
                               "folder, or the 200-epoch test CSV reduction)", label="the official NB-201 file (--benchmark-file)")
NB101 = Need("benchmark_file", "nasbench_only108.tfrecord (--benchmark-file)", label="nasbench_only108.tfrecord (--benchmark-file)")
GPU = Need("gpu", "a CUDA GPU (--device cuda; --device cpu forces the CPU, days per search)", label="a GPU (--device cuda)")
LOGS = Need("logs", "the RobustDARTS search logs (--logs: experiments/search_logs of automl/RobustDARTS)",
            label="RobustDARTS logs (--logs)")


def data(*datasets: str) -> Need:
    return Need("data_dir", f"the official {' / '.join(datasets)} files (--data-dir)", datasets,
                label=f"{' / '.join(datasets)} files (--data-dir)")


def nb201_rows(methods: tuple[str, ...], splits: tuple[str, ...] = ("valid", "test")) -> tuple[Row, ...]:
    return tuple(Row(m, ds, sp) for m in methods for ds in NB201_DATASETS for sp in splits)


def nb201_search(name: str, optimizers: dict[str, dict], splits: tuple[str, ...] = ("valid", "test")) -> Part:
    """Search on CIFAR-10 (NB-201's protocol), the found cell's 200-epoch accuracy on all three datasets."""
    return Part(name, "search", {"spaces": ("nb201",), "search_datasets": ("cifar10",), "optimizers": optimizers,
                                 "eval": "benchmark", "benchmark": "nb201", "epochs": 200},
                needs=(NB201, data("cifar10"), GPU), rows=nb201_rows(tuple(optimizers), splits), tier="gpu")


#: DrNAS's README: "searched on the dataset itself" for the CIFAR-100 and ImageNet16-120 columns.
OWN = "searched on the dataset itself"


def nb201_search_each(name: str, optimizers: dict[str, dict]) -> Part:
    """One search per dataset (DrNAS's README table): each found cell's test accuracy on its own dataset."""
    rows = tuple(Row(m, ds, "test", setting="" if ds == "cifar10" else OWN)
                 for m in optimizers for ds in NB201_DATASETS)
    return Part(name, "search", {"spaces": ("nb201",), "search_datasets": NB201_DATASETS, "optimizers": optimizers,
                                 "eval": "benchmark", "benchmark": "nb201", "epochs": 200, "own_dataset": True},
                needs=(NB201, data(*NB201_DATASETS), GPU), rows=rows, tier="gpu")


#: ``--scale reduced`` of the NB-201 searches (ours: a CPU-sized search, never compared with published numbers):
#: 8 channels, one cell per stage, 1,024 images per split, 10 epochs; the found cell is still scored by the
#: full-size network's 200-epoch accuracy in the table.
NB201_REDUCED_RUN = {"epochs": 10, "subset": 1024, "channels": 8, "depth": 1}
NB201_REDUCED = ("CPU-sized NB-201 searches: 8 channels, one cell per stage, 1,024 CIFAR-10 images per split, "
                 "10 epochs (no GPU needed); the ranking of the methods is reported, not compared")


def reduced(part: Part) -> Part:
    """The CPU-sized twin of a search part: the same plan with ``NB201_REDUCED_RUN``, no GPU, ``--scale reduced``."""
    return Part(f"{part.name} (reduced)", part.executor, {**part.params, "run": NB201_REDUCED_RUN},
                needs=tuple(n for n in part.needs if n.kind != "gpu"), rows=part.rows, tier="cpu",
                scales=("reduced",))


def zero_cost_part(proxy: str, datasets: tuple[str, ...], sizes: tuple[int, ...] = SIZES,
                   names: dict[str, int] | None = None, label: str = "") -> Part:
    """Zero-cost NAS (uniform draws, the best by ``proxy``); ``names`` maps row names to sample sizes when the
    table prints its own (BaLeNAS Table 1's "Zero-cost NAS")."""
    needs = (NB201,) if proxy == "synflow" else (NB201, data(*datasets))
    rows = (tuple(Row(m, ds, sp) for ds in datasets for m in names for sp in ("valid", "test")) if names
            else rows_for(proxy, sizes, datasets))
    return Part(label or f"zero-cost NAS, {proxy}, {' / '.join(datasets)}", "zero_cost",
                {"benchmark": "nb201", "space": "nb201", "proxy": proxy, "sizes": sizes, "datasets": datasets,
                 "epochs": 200, "batch_size": ZC_BATCH, "names": names or {}}, needs=needs, rows=rows)


RD_SPACES = ("s1", "s2", "s3", "s4")
# automl/RobustDARTS src/evaluation/args.py defaults, as scripts/DARTS_eval.sh runs them (--cutout --auxiliary
# --seed 1): 600 epochs, batch 96; the other values are EvalProtocol's DARTS defaults. Sizes per setting below.
RD_RETRAIN = {"epochs": 600, "batch_size": 96, "seed": 1}
#: (layers, channels) per (space, dataset, grid): automl/RobustDARTS src/evaluation/config.yaml at commit f83f0a8
#: (keys s{1-4}_{dataset}_{dp|wd}; the file was removed in e406a9a). SVHN uses 8 x 16 everywhere.
RD_SIZES = {("s1", "cifar10", "dp"): (20, 36), ("s1", "cifar10", "wd"): (20, 36),
            ("s2", "cifar10", "dp"): (20, 16), ("s2", "cifar10", "wd"): (8, 16),
            ("s3", "cifar10", "dp"): (20, 36), ("s3", "cifar10", "wd"): (8, 16),
            ("s4", "cifar10", "dp"): (20, 16), ("s4", "cifar10", "wd"): (8, 16)}
#: VIM-NAS Table 4 caption, the second setting (SDARTS / DARTS- evaluation): 20 layers, 36 channels everywhere.
WIDE = "20 layers, 36 channels"
RD_EVAL = "RobustDARTS eval sizes"


def rd_sizes(space: str, dataset: str, grid: str) -> tuple[int, int]:
    """RobustDARTS's retraining (layers, channels); ``grid`` is ``dp`` for R-DARTS(DP), else ``wd`` (DARTS,
    DARTS-ES/-ADA and RS-ws run at dp 0, wd 3e-4, the L2 grid's first point: ours)."""
    return RD_SIZES.get((space, dataset, grid), (8, 16))


def retrain_sizes(setting: str, space: str, dataset: str, grid: str) -> dict[str, int]:
    """``EvalProtocol`` sizes of a Table 4 / slide 25 setting."""
    layers, channels = (20, 36) if setting == WIDE else rd_sizes(space, dataset, grid)
    return {"layers": layers, "channels": channels}


def _o(optimizer: str, **config) -> dict:
    return {"optimizer": optimizer, "config": config}


NB201_WS = {"DARTS (1st)": _o("darts"), "DARTS (2nd)": _o("darts-2nd"), "GDAS": _o("gdas"),
            "RandomNAS": _o("rsws"), "SETN": _o("setn"), "ENAS": _o("enas")}
BALENAS_T1 = {"ENAS": _o("enas"), "RandomNAS": _o("rsws"), "SETN": _o("setn"), "GDAS": _o("gdas"),
              "DrNAS": _o("drnas"), "DARTS (1st)": _o("darts"), "DARTS (2nd)": _o("darts-2nd"),
              "BaLeNAS (1st)": _o("balenas-1st"), "BaLeNAS (2nd)": _o("balenas"), "BaLeNAS-TF": _o("balenas-tf")}
RD_OPTIMIZERS = {"DARTS": _o("darts-2nd"), "DARTS-ES": _o("darts-es"), "DARTS-ADA": _o("darts-ada"),
                 "R-DARTS(DP)": {**_o("darts-dp", order=2, w_weight_decay=3e-4),
                                 "grid": {"drop_path_prob": (0.0, 0.2, 0.4, 0.6)}, "select": "dp"},
                 "R-DARTS(L2)": {**_o("darts-dp", order=2, drop_path_prob=0.0),
                                 "grid": {"w_weight_decay": (3e-4, 9e-4, 2.7e-3, 8.1e-3, 2.43e-2)}, "select": "l2"}}


def retrain_search(name: str, optimizers: dict[str, dict], datasets: tuple[str, ...],
                   settings: dict[str, tuple[str, ...]] | None = None) -> Part:
    """Searches on S1-S4, each found cell retrained under every setting its row names (``settings``: row name ->
    settings; default RobustDARTS's sizes)."""
    settings = settings or {m: (RD_EVAL,) for m in optimizers}
    rows = tuple(Row(m, ds, "test", "error", sp, st) for m in optimizers for sp in RD_SPACES for ds in datasets
                 for st in settings[m])
    return Part(name, "search", {"spaces": RD_SPACES, "search_datasets": datasets, "optimizers": optimizers,
                                 "eval": "retrain", "retrain": RD_RETRAIN}, needs=(data(*datasets), GPU),
                rows=rows, tier="gpu")


def svhn_part(methods: tuple[str, ...]) -> Part:
    return Part("SVHN columns", "unavailable", {"reason": "SVHN is not a dataset of this harness (harness list)"},
                rows=tuple(Row(m, "svhn", "test", "error", sp, RD_EVAL) for m in methods for sp in RD_SPACES))


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Add ``recipe``; a second recipe with the same id is refused."""
    if recipe.id in RECIPES:
        raise ConfigError(f"recipe {recipe.id!r} is already registered")
    RECIPES[recipe.id] = recipe
    return recipe


BALENAS = "Zhang et al., BaLeNAS"
NB201_PAPER = "Dong & Yang, NAS-Bench-201"
RDARTS = "Zela et al., RobustDARTS"
VIMNAS = "Wang et al., VIM-NAS"


def benchmark_rows(*methods: str, splits: tuple[str, ...] = ("valid", "test")) -> Part:
    return Part("benchmark rows", "benchmark_stats", {"benchmark": "nb201", "epochs": 200}, needs=(NB201,),
                rows=nb201_rows(methods, splits))


register(Recipe(
    "nb201-table5", "NAS-Bench-201 weight-sharing rows (searched on CIFAR-10), valid and test on three datasets",
    "Dong & Yang, NAS-Bench-201 (ICLR 2020), Table 5, as BaLeNAS Table 1 quotes it",
    (nb201_search("weight-sharing searches", NB201_WS), reduced(nb201_search("weight-sharing searches", NB201_WS)),
     benchmark_rows("optimal")),
    published=(Published(NB201_PAPER, "Table 1"), Published(BALENAS, "Table 1", ("optimal",))),
    reduced=NB201_REDUCED,
    missing="The NB-201 paper itself is not among the sources: its rows are compared as BaLeNAS Table 1 prints them "
            "(method names as there: RandomNAS is NB-201's RSPS); the run count behind them is not stated."))

register(Recipe(
    "balenas-table1", "BaLeNAS Table 1 on NB-201: every row, valid and test, three datasets",
    "Zhang et al., BaLeNAS (CVPR 2022), Table 1",
    (benchmark_rows("Random baseline", "optimal"),
     zero_cost_part("synflow", NB201_DATASETS, (100,), names={"Zero-cost NAS": 100},
                    label="zero-cost NAS (Table 1's row; N=100 as BaLeNAS-TF's sample size: ours)"),
     nb201_search("searches", BALENAS_T1), reduced(nb201_search("searches", BALENAS_T1))),
    seeds=FOUR_SEEDS, published=(Published(BALENAS, "Table 1"),), reduced=NB201_REDUCED,
    missing="Table 1's Zero-cost NAS row does not state its sample size; ours uses N=100 (Table 2's largest, and "
            "BaLeNAS-TF's). The validation columns need the official NB-201 file."))

register(Recipe(
    "balenas-table2", "Sample-size ablation: Zero-cost NAS and BaLeNAS-TF (SynFlow) at N = 10 / 50 / 100",
    "Zhang et al., BaLeNAS (CVPR 2022), Table 2",
    (zero_cost_part("synflow", NB201_DATASETS),
     nb201_search("BaLeNAS-TF searches",
                  {f"BaLeNAS-TF (SynFlow, N={n})": _o("balenas-tf", tf_samples=n, proxy="synflow") for n in SIZES},
                  ("test",))),
    seeds=FOUR_SEEDS, published=(Published(BALENAS, "Table 2"),)))

TABLE4 = {"BaLeNAS": _o("balenas"), **{f"BaLeNAS-TF ({PROXY_LABELS[p]}, N={n})": _o("balenas-tf", proxy=p, tf_samples=n)
                                       for p in PROXIES for n in SIZES}}
register(Recipe(
    "balenas-table4", "BaLeNAS-TF with SNIP / GraSP / SynFlow at N = 10 / 50 / 100, beside BaLeNAS",
    "Zhang et al., BaLeNAS (CVPR 2022), Table 4 (appendix B; \"FreeDARTS\" is the paper's earlier name for its "
    "framework)",
    (nb201_search("BaLeNAS and BaLeNAS-TF searches", TABLE4),
     zero_cost_part("snip", ("cifar10",), label="zero-cost NAS over uniform draws, SNIP (no published row)"),
     zero_cost_part("grasp", ("cifar10",), label="zero-cost NAS over uniform draws, GraSP (no published row)")),
    seeds=FOUR_SEEDS, published=(Published(BALENAS, "Table 4"),),
    missing="Each (proxy, N) is its own search (ours: the searches are identical up to the final selection, so a "
            "GPU budget could share them). Zero-cost NAS over uniform draws is ours, with no published row."))

register(Recipe(
    "balenas-table5", "BaLeNAS (2nd) with M = 1 / 2 / 3 / 4 Monte-Carlo samples per step",
    "Zhang et al., BaLeNAS (CVPR 2022), Table 5",
    (nb201_search("BaLeNAS searches", {**{f"BaLeNAS (2nd, M={m})": _o("balenas", mc_samples=m) for m in (1, 2, 3, 4)},
                                       "DARTS (2nd)": _o("darts-2nd")}),
     benchmark_rows("Random baseline", "optimal")),
    seeds=FOUR_SEEDS, published=(Published(BALENAS, "Table 5"), Published(NB201_PAPER, "Table 5")),
    missing="Table 5 prints its DARTS (2nd) row with ENAS's Table 1 values; both versions are compared and marked "
            "disputed."))

register(Recipe(
    "balenas-fig1", "BaLeNAS vs DARTS, anytime valid/test error on NAS-Bench-1Shot1 search space 3",
    "Zhang et al., BaLeNAS (CVPR 2022), Figure 1",
    (Part("searches", "search", {"spaces": ("nb1shot1-s3",), "search_datasets": ("cifar10",),
                                 "optimizers": {"BaLeNAS": _o("balenas"), "DARTS (2nd)": _o("darts-2nd")},
                                 "eval": "benchmark", "benchmark": "nb1shot1-s3", "epochs": 108},
          needs=(NB101, data("cifar10"), GPU),
          rows=tuple(Row(m, "cifar10", sp, "accuracy", "nb1shot1-s3") for m in ("BaLeNAS", "DARTS (2nd)")
                     for sp in ("valid", "test")),
          tier="needs nasbench_only108.tfrecord"),),
    seeds=FOUR_SEEDS,
    missing="A figure: no numbers to compare; OUT/anytime_regret_searches.png draws the anytime test regret "
            "(optimum minus test accuracy) per optimizer, `harness report OUT` the rest."))

RD_ALL = {"RS-ws": _o("rsws"), **RD_OPTIMIZERS}
register(Recipe(
    "robustdarts-table", "RS-ws, DARTS, R-DARTS(DP), R-DARTS(L2), DARTS-ES, DARTS-ADA on S1-S4: retrained test error",
    "Zela et al., RobustDARTS (ICLR 2020), slides 25 (selected architecture) and 21 (mean +- std)",
    (retrain_search("searches + retraining", RD_ALL, ("cifar10", "cifar100")), svhn_part(tuple(RD_ALL))),
    published=(Published(RDARTS, "slide 25"), Published(RDARTS, "slide 21")),
    missing="The slides do not say how many searches each entry selects from: ours selects from the recipe's seeds, "
            "by the search's final validation accuracy (ours)."))

register(Recipe(
    "robustdarts-eigenvalue", "Dominant Hessian eigenvalue over DARTS's search on S1 and its relation to the error",
    "Zela et al., RobustDARTS (ICLR 2020), slides 19-23; the published search logs",
    (Part("published logs", "robustdarts_eigenvalue", {"space": "s1", "dataset": "cifar10"}, needs=(LOGS,)),
     Part("published correlations", "unavailable",
          {"reason": "the logs hold the supernet's validation error only",
           "reasons": {"pearson_avg_eigenvalue_vs_test_error":
                       "needs the retrained test error of every logged S1 CIFAR-10 genotype (harness evaluate on "
                       "each arch_{seed}, a GPU: 600 epochs each), then Pearson with the average logged eigenvalue",
                       "spearman_eigenvalue_vs_accuracy_drop":
                       "needs each search's final supernet weights, evaluated with the supernet's mixed cell and "
                       "with its discretised cell (the logs hold no weights; this harness has no accuracy-drop "
                       "analysis yet)"}},
          rows=(Row("DARTS", "cifar10", "test", "pearson_avg_eigenvalue_vs_test_error", "s1"),
                Row("DARTS", "all", "valid", "spearman_eigenvalue_vs_accuracy_drop", "s1-s4")))),
    published=(Published(RDARTS, "slide 20"), Published(RDARTS, "slide 23"))))

VIM_SETTINGS = {"VIM-NAS": (RD_EVAL, WIDE), "DARTS": (RD_EVAL,), "R-DARTS(DP)": (RD_EVAL,),
                "R-DARTS(L2)": (RD_EVAL,), "DARTS-ES": (RD_EVAL,), "DARTS-ADA": (RD_EVAL,),
                "PC-DARTS": (WIDE,), "SDARTS-RS": (WIDE,), "SDARTS-ADV": (WIDE,)}
VIM_OPTIMIZERS = {"VIM-NAS": _o("vim-nas"), **RD_OPTIMIZERS, "PC-DARTS": _o("pc-darts"),
                  "SDARTS-RS": _o("sdarts-rs"), "SDARTS-ADV": _o("sdarts-adv")}
register(Recipe(
    "vimnas-table4", "VIM-NAS Table 4: S1-S4 x CIFAR-10/100, lowest retrained error of 4 searches, two settings",
    "Wang et al., VIM-NAS (ICCV 2021), Table 4",
    (retrain_search("searches + retraining", VIM_OPTIMIZERS, ("cifar10", "cifar100"), VIM_SETTINGS),
     Part("DARTS- columns", "unavailable", {"reason": "DARTS- is not an optimizer of this harness (harness list)"},
          rows=tuple(Row("DARTS-", ds, "test", "error", sp, st) for sp in RD_SPACES for ds in ("cifar10", "cifar100")
                     for st in (RD_EVAL, WIDE)))),
    seeds=FOUR_SEEDS, published=(Published(VIMNAS, "Table 4"),)))

register(Recipe(
    "bender-dropout", "One-shot vs stand-alone rank correlation as a function of the path-dropout rate",
    "Bender et al., Understanding and Simplifying One-Shot Architecture Search (ICML 2018), Section 4",
    (Part("dropout study", "bender_dropout",
          {"space": "s5", "dataset": "digits", "benchmark": "s5-digits", "r_max": R_MAX,
           "archs": "all", "run": {"epochs": 20}}, scales=("reduced",)),
     Part("dropout study on NB-201", "bender_dropout",
          {"space": "nb201", "dataset": "cifar10", "benchmark": "nb201", "r_max": R_MAX,
           "archs": "100"}, needs=(NB201, data("cifar10"), GPU), tier="gpu")),
    reduced="S5 on digits (81 architectures, the shipped table), 20 epochs per rate",
    missing="Bender et al. report a figure in their own space: the phenomenon (which rate ranks best) is compared."))

NSA_TABLE = ("WRN-28-10", "DenseNet-BC", "ENAS + CutOut", "DARTS + CutOut", "WRN-28-10 (NSA's run)",
             "WRN-28-10 (NSA's run), MC dropout", "Average of individuals", "NSA-id")
register(Recipe(
    "nsa-disparity", "NSA: seen/unseen disparity, ensemble gain and ECE for naive / NSA-i / NSA-id",
    "Deng et al., NSA (thudzj/NSA), main results; the WRN-28-10 table of the slides",
    (Part("pool study", "nsa_disparity",
          {"space": "s5", "dataset": "digits", "benchmark": "s5-digits", "modes": ("naive", "nsa-i", "nsa-id"),
           "pool_size": 20, "pool": "space", "analysis": {"n_seen": 20, "n_unseen": 40},
           "run": {"epochs": 20}}, scales=("reduced",)),
     Part("pool study on the random-wired WRN", "nsa_disparity",
          {"space": "randwire", "dataset": "cifar10", "benchmark": "none", "modes": ("naive", "nsa-i", "nsa-id"),
           "pool_size": 5, "pool": "er"}, needs=(data("cifar10"), GPU), tier="gpu"),
     Part("WRN-28-10 table", "unavailable",
          {"reason": "the table's networks are WRN-28-10 variants trained for CIFAR; this harness's NSA space is the "
                     "random-wired WRN of thudzj/NSA (models/wrn_r.py), whose study reports seen/unseen accuracy, "
                     "ensemble gain and ECE per mode, not these rows"},
          rows=tuple(Row(m, ds, "test", metric, "wrn-28-10") for m in NSA_TABLE for ds in ("cifar10", "cifar100")
                     for metric in ("error", "ece")))),
    published=(Published("Deng et al., NSA", "WRN-28-10 table"),),
    reduced="S5 on digits, a pool of 20 of the 81 cells, 20 epochs, 20 seen / 40 unseen architectures",
    missing="The OOD / PGD table is not compared (no recipe measures it)."))

DRNAS_ROWS = {"DrNAS": _o("drnas"), "DARTS": _o("darts"), "ENAS": _o("enas"), "SNAS": _o("snas-bilevel"),
              "PC-DARTS": _o("pc-darts")}
register(Recipe(
    "drnas-nb201", "DrNAS's NB-201 rows: one search per dataset, the found cell's test accuracy there",
    "Chen et al., DrNAS (ICLR 2021), NB-201 table (repository README)",
    (nb201_search_each("searches", DRNAS_ROWS), reduced(nb201_search_each("searches", DRNAS_ROWS)),
     benchmark_rows("optimal", splits=("test",))),
    published=(Published("DrNAS", "README NB-201 table"),), reduced=NB201_REDUCED,
    missing="The README's DARTS row does not say which order; ours is first order (`darts`)."))


def get_recipe(recipe_id: str) -> Recipe:
    """The recipe ``recipe_id``; ``UserError`` naming the known ids otherwise."""
    from search_spaces.errors import UserError

    if recipe_id not in RECIPES:
        raise UserError(f"unknown recipe {recipe_id!r}; known: {', '.join(RECIPES)} (harness reproduce --list)")
    return RECIPES[recipe_id]
