"""LatentBE (Nam et al., ICML 2022, "Improving Ensemble Distillation With Weight Averaging
and Diversifying Perturbation"): a distilled BatchEnsemble student's members averaged into
one network, evaluated as its own model at a single network's cost.

Member m of a BatchEnsemble layer computes γ_m ⊙ W(α_m ⊙ x) + b_m, i.e. uses the weight
W ∘ (γ_m α_mᵀ) (broadcast over a convolution's kernel) and the bias b_m. The averaged
network uses W ∘ mean_m(γ_m α_mᵀ) and mean_m b_m: the mean of the members' weights, which
the rank-one structure keeps (the members share W). BatchNorm layers are shared by the
members and trained on all members' activations at once; their running statistics are
not the averaged network's, so they are estimated again by one pass over the training
inputs (``torch.optim.swa_utils.update_bn``, as after weight averaging in SWA).

    python -m ensemble_distill.latent --data results/x/dataset.npz --sources a.pt b.pt \\
        --seeds 0 1 --out results/x/students/latent/seeds0-1
"""

import argparse
import copy
import json
from pathlib import Path

import torch
from torch import nn

from . import jobguard, manifest, plan, provenance
from .datasets import Dataset
from .io import file_sha256, load_checkpoint, save_checkpoint
from .models import build_model
from .models.layers import RankOneEnsemble


def averaged_weight(layer):
    """W ∘ mean_m(γ_m α_mᵀ) of a BatchEnsemble layer (linear or convolution)."""
    factors = (layer.gamma_be[:, :, None] * layer.alpha_be[:, None, :]).mean(0)  # (out, in)
    return layer.weight * factors.view(*factors.shape, *[1] * (layer.weight.dim() - 2))


def average_members(be_model, spec):
    """The plain network (``spec`` without ``batchensemble``; a one-member ``Members``)
    whose layers hold the members' mean weights and biases; other layers (BatchNorm) are
    copied."""
    plain_spec = {k: v for k, v in spec.items() if k != "batchensemble"}
    plain = build_model(plain_spec)
    pairs = zip(be_model.net.modules(), plain[0].modules(), strict=True)
    with torch.no_grad():
        for source, target in pairs:
            if isinstance(source, RankOneEnsemble):
                target.weight.copy_(averaged_weight(source))
                if source.bias is not None:
                    target.bias.copy_(source.bias.mean(0))
            elif not list(source.children()) and list(source.state_dict()):
                target.load_state_dict(source.state_dict())  # BatchNorm: shared already
    return plain_spec, plain


def refresh_batchnorm(model, x_train, batch_size=256):
    """Estimate BatchNorm running statistics again on the training inputs (no-op without
    BatchNorm)."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    batches = [torch.as_tensor(x_train[i : i + batch_size])
               for i in range(0, len(x_train), batch_size)]  # fmt: skip
    torch.optim.swa_utils.update_bn(batches, model)


def average_student(source_path, data):
    """(spec, state dict) of the averaged network of one BatchEnsemble checkpoint."""
    source = load_checkpoint(source_path)
    if "batchensemble" not in source["spec"]:
        raise ValueError(f"{source_path} is not a BatchEnsemble student (method "
                         f"'{source.get('method')}')")  # fmt: skip
    be_model = build_model(source["spec"])
    be_model.load_state_dict(source["state_dicts"][0])
    spec, plain = average_members(be_model, source["spec"])
    refresh_batchnorm(plain, data.x_train)
    return source, spec, {k: v.cpu() for k, v in plain.eval().state_dict().items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--student", type=json.loads, required=True)
    parser.add_argument("--sources", nargs="+", required=True, help="one checkpoint per seed")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--out", required=True)
    jobguard.add_log_argument(parser)
    args = parser.parse_args(argv)
    record = provenance.start(config={"student": args.student}, inputs=[args.data])
    with jobguard.owning(args.out, args.log):
        data = Dataset.load(args.data)
        for seed, source_path in zip(args.seeds, args.sources, strict=True):
            source, spec, state = average_student(source_path, data)
            path = Path(plan.checkpoint(args.out, seed))
            save_checkpoint(
                path, spec=spec, state_dicts=[state], output=source["output"], seed=seed,
                method=args.student["method"], teacher_seeds=source.get("teacher_seeds", []),
                history=[[]],
            )  # fmt: skip
            member = copy.deepcopy(record)
            member["inputs"][source_path] = file_sha256(source_path)
            member["seeds"] = {"distill": seed, "seed_group": args.seeds}
            provenance.write_sidecar(member, [path])
            print(f"seed {seed}: averaged {source_path} into {path}")
        manifest.write(args.out)


if __name__ == "__main__":
    main()
