"""The recipes: one per published table or figure the harness serves (``harness reproduce --list``).

Plans name optimizers and spaces; their hyperparameters come from the protocol
presets (``harness protocol SPACE OPTIMIZER``), never restated here. Published
numbers live in ``harness/references/published.csv``; ``missing`` says which
of a table's numbers the stored public sources lack.
"""

from __future__ import annotations

from harness.recipes.executors import rows_for
from harness.recipes.recipe import Need, Part, Published, Recipe, Row
from search_spaces.errors import ConfigError

NB201_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
#: BaLeNAS Table 2's sample sizes (the issue's reading of the paper).
SIZES = (10, 50, 100)
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


def zero_cost_part(proxy: str, datasets: tuple[str, ...], sizes: tuple[int, ...] = SIZES) -> Part:
    needs = (NB201,) if proxy == "synflow" else (NB201, data(*datasets))
    return Part(f"zero-cost NAS, {proxy}, {' / '.join(datasets)}", "zero_cost",
                {"benchmark": "nb201", "space": "nb201", "proxy": proxy, "sizes": sizes, "datasets": datasets,
                 "epochs": 200, "batch_size": ZC_BATCH}, needs=needs, rows=rows_for(proxy, sizes, datasets))


def _o(optimizer: str, **config) -> dict:
    return {"optimizer": optimizer, "config": config}


NB201_WS = {"DARTS (1st)": _o("darts"), "DARTS (2nd)": _o("darts-2nd"), "GDAS": _o("gdas"),
            "RSPS (RS-ws)": _o("rsws"), "SETN": _o("setn"), "ENAS": _o("enas")}
BALENAS_T1 = {"ENAS": _o("enas"), "RandomNAS": _o("rsws"), "SETN": _o("setn"), "GDAS": _o("gdas"),
              "DrNAS": _o("drnas"), "DARTS (1st)": _o("darts"), "DARTS (2nd)": _o("darts-2nd"),
              "BaLeNAS (1st)": _o("balenas-1st"), "BaLeNAS (2nd)": _o("balenas"), "BaLeNAS-TF": _o("balenas-tf")}
RD_SPACES = ("s1", "s2", "s3", "s4")
# automl/RobustDARTS src/evaluation/args.py defaults, as scripts/DARTS_eval.sh runs them (--cutout --auxiliary
# --seed 1): 8 cells, 16 channels, 600 epochs, batch 96; the other values are EvalProtocol's DARTS defaults.
RD_RETRAIN = {"layers": 8, "channels": 16, "epochs": 600, "batch_size": 96, "seed": 1}
RD_OPTIMIZERS = {"DARTS": _o("darts-2nd"), "DARTS-ES": _o("darts-es"), "DARTS-ADA": _o("darts-ada"),
                 "R-DARTS(DP)": {**_o("darts-dp", order=2, w_weight_decay=3e-4),
                                 "grid": {"drop_path_prob": (0.0, 0.2, 0.4, 0.6)}, "select": "dp"},
                 "R-DARTS(L2)": {**_o("darts-dp", order=2, drop_path_prob=0.0),
                                 "grid": {"w_weight_decay": (3e-4, 9e-4, 2.7e-3, 8.1e-3, 2.43e-2)}, "select": "l2"}}


def retrain_search(name: str, optimizers: dict[str, dict], datasets: tuple[str, ...]) -> Part:
    rows = tuple(Row(m, ds, "test", "error", sp) for m in optimizers for sp in RD_SPACES for ds in datasets)
    return Part(name, "search", {"spaces": RD_SPACES, "search_datasets": datasets, "optimizers": optimizers,
                                 "eval": "retrain", "retrain": RD_RETRAIN}, needs=(data(*datasets), GPU),
                rows=rows, tier="gpu")


def svhn_part(methods: tuple[str, ...]) -> Part:
    return Part("SVHN columns", "unavailable", {"reason": "SVHN is not a dataset of this harness (harness list)"},
                rows=tuple(Row(m, "svhn", "test", "error", sp) for m in methods for sp in RD_SPACES))


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Add ``recipe``; a second recipe with the same id is refused."""
    if recipe.id in RECIPES:
        raise ConfigError(f"recipe {recipe.id!r} is already registered")
    RECIPES[recipe.id] = recipe
    return recipe


register(Recipe(
    "nb201-table5", "NAS-Bench-201 weight-sharing rows (searched on CIFAR-10), valid and test on three datasets",
    "Dong & Yang, NAS-Bench-201 (ICLR 2020), Table 5",
    (nb201_search("weight-sharing searches", NB201_WS), reduced(nb201_search("weight-sharing searches", NB201_WS))),
    published=(Published("Dong & Yang", "Table 5"),), reduced=NB201_REDUCED,
    missing="The stored public sources give Table 5's CIFAR-10 test column and GDAS's three test columns; the "
            "valid columns and the other test cells are not in them: add them with --published FILE."))

register(Recipe(
    "balenas-table1", "BaLeNAS Table 1 on NB-201: every row, valid and test, three datasets",
    "Zhang et al., BaLeNAS (CVPR 2022), Table 1",
    (Part("benchmark rows", "benchmark_stats", {"benchmark": "nb201", "epochs": 200}, needs=(NB201,),
          rows=nb201_rows(("Random baseline", "optimal"))),
     zero_cost_part("synflow", NB201_DATASETS, (100,)),
     nb201_search("searches", BALENAS_T1), reduced(nb201_search("searches", BALENAS_T1))),
    published=(Published("BaLeNAS", "Table 1"), Published("BaLeNAS", "Table 2")), reduced=NB201_REDUCED,
    missing="Valid columns, the search rows other than BaLeNAS's and the Zero-cost NAS row of Table 1 are not in "
            "the stored sources (the Zero-cost row compared is Table 2's N=100)."))

register(Recipe(
    "balenas-table2", "Sample-size ablation: Zero-cost NAS and BaLeNAS-TF at N = 10 / 50 / 100",
    "Zhang et al., BaLeNAS (CVPR 2022), Table 2",
    (zero_cost_part("synflow", NB201_DATASETS),
     nb201_search("BaLeNAS-TF searches", {f"BaLeNAS-TF (N={n})": _o("balenas-tf", tf_samples=n) for n in SIZES},
                  ("test",))),
    seeds=(0, 1, 2, 3), published=(Published("BaLeNAS", "Table 2"),),
    missing="Only the N=100 Zero-cost NAS row is in the stored sources."))

register(Recipe(
    "balenas-table4", "Training-free proxies: Zero-cost NAS with SNIP / GraSP / SynFlow at N = 10 / 50 / 100, "
                      "and FreeDARTS",
    "Zhang et al., BaLeNAS (CVPR 2022), Table 4",
    (zero_cost_part("synflow", NB201_DATASETS),
     zero_cost_part("snip", ("cifar10",)), zero_cost_part("grasp", ("cifar10",)),
     zero_cost_part("snip", ("cifar100", "ImageNet16-120")), zero_cost_part("grasp", ("cifar100", "ImageNet16-120")),
     Part("FreeDARTS", "unavailable", {"reason": "FreeDARTS (Zhang et al. 2021, ZEROS) is not an optimizer of this "
                                                 "harness"},
          rows=tuple(Row(f"FreeDARTS ({p})", ds, "test") for p in ("SNIP", "GraSP", "SynFlow")
                     for ds in NB201_DATASETS))),
    seeds=(0, 1, 2, 3), published=(Published("BaLeNAS", "Table 2"),),
    missing="Table 4's numbers are not in the stored sources; its SynFlow N=100 setting is Table 2's row."))

register(Recipe(
    "balenas-table5", "BaLeNAS with M = 1 / 3 / 5 Monte-Carlo samples per step",
    "Zhang et al., BaLeNAS (CVPR 2022), Table 5",
    (nb201_search("BaLeNAS searches", {f"BaLeNAS (M={m})": _o("balenas", mc_samples=m) for m in (1, 3, 5)}),),
    missing="Table 5's numbers and its exact M grid are not in the stored sources; M = 1, 3 (the preset), 5 is "
            "ours."))

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
    missing="A figure: no numbers to compare; OUT/anytime_regret_searches.png draws the anytime test regret "
            "(optimum minus test accuracy) per optimizer, `harness report OUT` the rest."))

register(Recipe(
    "robustdarts-table", "DARTS, DARTS-ES, DARTS-ADA, R-DARTS(DP), R-DARTS(L2) on S1-S4: retrained test error",
    "Zela et al., RobustDARTS (ICLR 2020), S1-S4 tables (VIM-NAS's Table 4 repeats several columns)",
    (retrain_search("searches + retraining", RD_OPTIMIZERS, ("cifar10", "cifar100")), svhn_part(tuple(RD_OPTIMIZERS))),
    missing="The S1-S4 test errors are not in the stored sources (the shared logs hold search errors only)."))

register(Recipe(
    "robustdarts-eigenvalue", "Dominant Hessian eigenvalue over DARTS's search on S1 and its relation to the error",
    "Zela et al., RobustDARTS (ICLR 2020), Section 4 figures; the published search logs",
    (Part("published logs", "robustdarts_eigenvalue", {"space": "s1", "dataset": "cifar10"}, needs=(LOGS,)),),
    missing="Figures: the result is the trajectories and their rank correlation, not a number to compare."))

register(Recipe(
    "vimnas-table4", "VIM-NAS on S1-S4 beside the columns of its Table 4",
    "Wang et al., VIM-NAS (ICCV 2021), Table 4",
    (retrain_search("searches + retraining", {"VIM-NAS": _o("vim-nas")}, ("cifar10", "cifar100")),
     svhn_part(("VIM-NAS",))),
    missing="VIM-NAS's Table 4 numbers are not in the stored sources."))

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

register(Recipe(
    "nsa-disparity", "NSA: seen/unseen disparity, ensemble gain and ECE for naive / NSA-i / NSA-id",
    "Deng et al., NSA (thudzj/NSA), main results",
    (Part("pool study", "nsa_disparity",
          {"space": "s5", "dataset": "digits", "benchmark": "s5-digits", "modes": ("naive", "nsa-i", "nsa-id"),
           "pool_size": 20, "pool": "space", "analysis": {"n_seen": 20, "n_unseen": 40},
           "run": {"epochs": 20}}, scales=("reduced",)),
     Part("pool study on the random-wired WRN", "nsa_disparity",
          {"space": "randwire", "dataset": "cifar10", "benchmark": "none", "modes": ("naive", "nsa-i", "nsa-id"),
           "pool_size": 5, "pool": "er"}, needs=(data("cifar10"), GPU), tier="gpu")),
    reduced="S5 on digits, a pool of 20 of the 81 cells, 20 epochs, 20 seen / 40 unseen architectures",
    missing="NSA's numbers are not in the stored sources: the phenomenon (the gap per mode) is reported."))

DRNAS_ROWS = {"DrNAS": _o("drnas"), "DARTS": _o("darts"), "ENAS": _o("enas"), "SNAS": _o("snas-bilevel"),
              "PC-DARTS": _o("pc-darts")}
register(Recipe(
    "drnas-nb201", "DrNAS's NB-201 rows (searched on CIFAR-10), test accuracy on three datasets",
    "Chen et al., DrNAS (ICLR 2021), NB-201 table (repository README)",
    (nb201_search("searches", DRNAS_ROWS, ("test",)), reduced(nb201_search("searches", DRNAS_ROWS, ("test",))),
     Part("benchmark rows", "benchmark_stats", {"benchmark": "nb201", "epochs": 200}, needs=(NB201,),
          rows=nb201_rows(("optimal",), ("test",)))),
    published=(Published("DrNAS", "README NB-201 table"),), reduced=NB201_REDUCED,
    missing="The README's DARTS row does not say which order; ours is first order (`darts`)."))


def get_recipe(recipe_id: str) -> Recipe:
    """The recipe ``recipe_id``; ``UserError`` naming the known ids otherwise."""
    from search_spaces.errors import UserError

    if recipe_id not in RECIPES:
        raise UserError(f"unknown recipe {recipe_id!r}; known: {', '.join(RECIPES)} (harness reproduce --list)")
    return RECIPES[recipe_id]
