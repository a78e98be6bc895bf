"""Published numbers to print beside ours (an experiment's ``paper:`` key selects a set).

UCI (Table 4) is compared per dataset, for every experiment with a ``uci`` dataset.

Tran et al. 2020, "Hydra: Preserving Ensemble Diversity for Model Distillation"
(arXiv:2001.04694), MNIST and CIFAR-10. Keys are our method names: the paper's "Prior Networks"
row is our ``end2``. Brier is the paper's Σp² − 2p_y convention (``brier_hydra``).
"""

from .methods import perturbation_of

HYDRA_MNIST = {
    "title": "Tran et al. 2020",
    # Table 2: test ACC, NLL, Brier (Σp² − 2p_y), MU; M = 50, n = 3.
    "summary": {
        "ensemble": {
            "acc": 0.9851,
            "nll": 0.0439,
            "brier_hydra": -0.9780,
            "model_uncertainty": 9.97e-6,
        },
        "end2": {"acc": 0.9842, "nll": 0.0521, "brier_hydra": -0.9285, "model_uncertainty": 0.1158},
        "kd": {"acc": 0.9843, "nll": 0.0497, "brier_hydra": -0.9764},
        "hydra": {
            "acc": 0.9857,
            "nll": 0.0465,
            "brier_hydra": -0.9776,
            "model_uncertainty": 2.28e-5,
        },
    },
    # Table 1: mean |MU_student − MU_ensemble| by eval-set kind ("shifted" = translated).
    "mu_gap": {
        "end2": {"test": 2.60e-5, "translate": 0.1938, "rotate": 0.2943, "ood": 0.1636},
        "hydra": {"test": 3.11e-5, "translate": 0.1552, "rotate": 0.0528, "ood": 0.2717},
    },
    # Table 5: parameters and FLOPs (FLOP convention not stated in the paper).
    "cost": {
        "ensemble": {"params": 9_960_500, "flops": 9.0e7},
        "end2": {"params": 199_210, "flops": 1.8e6},
        "kd": {"params": 199_210, "flops": 1.8e6},
        "hydra": {"params": 1_757_700, "flops": 2.5e7},
    },
}

HYDRA_UCI = {
    "title": "Tran et al. 2020",
    # The table's columns (our method names) and its headline comparison (a <= b in NLL).
    "methods": ("ensemble", "kd", "hydra"),
    "compare": ("hydra", "kd"),
    # Table 4: test NLL, ensemble / KD / Hydra (head [10, 1]); mean over n = 3 runs.
    "nll": {
        "boston": {"ensemble": 2.3780, "kd": 2.3893, "hydra": 2.3805},
        "concrete": {"ensemble": 3.0585, "kd": 3.1231, "hydra": 3.0982},
        "energy": {"ensemble": 1.2756, "kd": 1.5236, "hydra": 1.4402},
        "kin8nm": {"ensemble": -1.2977, "kd": -1.2343, "hydra": -1.2555},
        "naval": {"ensemble": -7.5983, "kd": -6.4340, "hydra": -7.1987},
        "power": {"ensemble": 2.8861, "kd": 2.8940, "hydra": 2.8921},
        "protein": {"ensemble": 2.8272, "kd": 2.8970, "hydra": 2.8829},
        "wine": {"ensemble": 0.9111, "kd": 0.9112, "hydra": 0.9113},
        "yacht": {"ensemble": -0.1640, "kd": 0.3837, "hydra": 0.3489},
    },
}

HYDRA_CIFAR10 = {
    "title": "Tran et al. 2020",
    # Table 3: test ACC, NLL, Brier (Σp² − 2p_y), MU; ResNet-20 v1, M = 50, n = 3; Hydra's
    # head = the last residual block.
    "summary": {
        "ensemble": {
            "acc": 0.9226,
            "nll": 0.2392,
            "brier_hydra": -0.9033,
            "model_uncertainty": 0.1055,
        },
        "end2": {"acc": 0.8731, "nll": 0.4392, "brier_hydra": -0.8231, "model_uncertainty": 0.0280},
        "kd": {"acc": 0.8933, "nll": 0.3598, "brier_hydra": -0.8373},
        "hydra": {
            "acc": 0.8992,
            "nll": 0.3179,
            "brier_hydra": -0.8468,
            "model_uncertainty": 0.0074,
        },
    },
    # Table 1, CIFAR-10 rows: "cyclic translation" = translate, "skewed" read as the
    # corruptions (the paper does not define it further), SVHN = ood.
    "mu_gap": {
        "end2": {"test": 0.0877, "translate": 0.1330, "corrupt": 0.0877, "ood": 0.3916},
        "hydra": {"test": 0.0983, "translate": 0.1646, "corrupt": 0.0938, "ood": 0.3611},
    },
    # Table 5: parameters as Keras counts them (BatchNorm moving statistics and convolution
    # biases included; our PyTorch count has neither) and FLOPs (convention not stated).
    "cost": {
        "ensemble": {"params": 13_722_100, "flops": 4.09e10},
        "kd": {"params": 274_442},
        "hydra": {"params": 3_950_324, "flops": 5.45e9},
    },
}


def _dm(acc, nll, brier, ece, cnll, cbrier, cece):
    return {"acc": acc / 100, "nll": nll, "brier": brier, "ece": ece, "cnll": cnll,
            "cbrier": cbrier, "cece": cece}  # fmt: skip


DM_CIFAR100 = {
    "title": "giung2 README",
    # Nam et al. 2021's code release (cs-giung/giung2, projects/Diversity-Matters README,
    # after the Nov-2021 BE-layer fix): WRN-28-10 on CIFAR-100, DE-k = the first k
    # teachers, BE-4 students by perturbation; single run. The paper's own table is not
    # available to us (methods.md d).
    "diversity": {
        "DE-1": _dm(80.22, 0.789, 0.282, 0.042, 0.789, 0.282, 0.041),
        "DE-2": _dm(81.90, 0.713, 0.261, 0.033, 0.708, 0.260, 0.031),
        "DE-3": _dm(82.46, 0.684, 0.253, 0.032, 0.673, 0.251, 0.027),
        "DE-4": _dm(82.54, 0.670, 0.249, 0.033, 0.655, 0.246, 0.026),
        "none": _dm(80.40, 0.804, 0.286, 0.072, 0.750, 0.277, 0.021),
        "gaussian": _dm(80.04, 0.816, 0.288, 0.075, 0.760, 0.277, 0.020),
        "ods": _dm(81.92, 0.685, 0.258, 0.026, 0.682, 0.258, 0.026),
        "confods": _dm(82.25, 0.670, 0.253, 0.023, 0.665, 0.252, 0.023),
    },
}


def by_method(student):
    return student["method"]


def hydra_cifar10_row(student):
    """Table 3's Hydra has one residual block per head; other heads have no published row."""
    if student["method"] == "hydra" and student.get("head", {}).get("layers", 1) != 1:
        return None
    return student["method"]


def dm_row(student):
    """The published BE-4 row a student reproduces: a BatchEnsemble of 4 members with the
    teachers' architecture, by its perturbation kind (None for any other student)."""
    if student["method"] != "batchensemble" or student.get("teachers") != 4:
        return None
    if student.get("network"):
        return None  # Table 2's smaller students: no published numbers available
    return perturbation_of(student)["kind"]


HYDRA_MNIST["row_of"] = by_method
HYDRA_CIFAR10["row_of"] = hydra_cifar10_row
DM_CIFAR100["row_of"] = dm_row


def paper_row(paper, student):
    """The key of the published row that a student (its config) reproduces in the paper
    named ``paper`` (an experiment's ``paper:``), or None. Tables print that row below it."""
    row_of = PAPERS.get(paper, {}).get("row_of")
    return row_of(student) if row_of else None


PAPERS = {
    "hydra-mnist": HYDRA_MNIST,
    "hydra-uci": HYDRA_UCI,
    "hydra-cifar10": HYDRA_CIFAR10,
    "dm-cifar100": DM_CIFAR100,
}
