"""Published numbers to print beside ours (an experiment's ``paper:`` key selects a set).

UCI (Table 4) is compared per dataset, for every experiment with a ``uci`` dataset.

Tran et al. 2020, "Hydra: Preserving Ensemble Diversity for Model Distillation"
(arXiv:2001.04694), MNIST. Keys are our method names: the paper's "Prior Networks"
row is our ``end2``. Brier is the paper's Σp² − 2p_y convention (``brier_hydra``).
"""

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

PAPERS = {"hydra-mnist": HYDRA_MNIST, "hydra-uci": HYDRA_UCI}
