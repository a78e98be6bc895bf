"""Bring your own ensemble: teachers trained outside the pipeline, named in the config
(``ensemble.checkpoints``: a folder, or a list of files) with the ``teacher`` architecture
block they were trained with, replace the teacher training jobs.

Each file holds one network's state dict, saved by ``torch.save(model.state_dict(), f)``
(read with ``weights_only=True``: no pickled code runs) or as safetensors. Its tensor names
and shapes must be those of the registered architecture's network (``models.build_model``
of the teacher spec; a plain ``nn.Sequential`` of the same layers has the same names); a
``0.`` prefix (the pipeline's own one-member format) is accepted. A folder's files are
taken in sorted order; file k becomes member seed k of ``ensemble.seeds`` (default
0..M-1). The import job writes them as the pipeline's teacher checkpoints, with the files'
hashes in their provenance, so every student, table and figure works as with teachers the
pipeline trained.

    python -m ensemble_distill.external --data results/x/dataset.npz --teacher '{...}' \\
        --seeds 0 1 --files a.pt b.safetensors --out results/x/teachers/seeds0-1
"""

import argparse
import copy
import json
import math
from pathlib import Path

from . import catalog, jobguard, manifest, plan, provenance
from .io import file_sha256, save_checkpoint


class TeacherFileError(ValueError):
    """An external teacher file is missing, unreadable or of another architecture."""


def read_state_dict(path):
    """{name: tensor} of one file, without executing pickled code."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise TeacherFileError(f"{path}: no such teacher file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            found = load_file(path)
        else:
            found = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 (an unpickling error, a truncated file, ...)
        why = str(error).strip().splitlines()[0][:160]
        raise TeacherFileError(
            f"{path}: cannot be read without executing pickled code ({type(error).__name__}: "
            f"{why}); save model.state_dict() with torch.save, or as safetensors"
        ) from None
    if isinstance(found, dict) and isinstance(found.get("state_dict"), dict):
        found = found["state_dict"]  # a common wrapper: {"state_dict": ..., "epoch": ...}
    if not isinstance(found, dict) or not all(isinstance(v, torch.Tensor) for v in found.values()):
        raise TeacherFileError(f"{path}: holds {type(found).__name__}, not a state dict of tensors")
    return found


def first_mismatch(expected, found):
    """The first tensor (in the network's order) whose name or shape differs, as a phrase;
    None when ``found`` has exactly the expected names and shapes."""
    for name, shape in expected.items():
        if name not in found:
            return f"lacks tensor '{name}' {tuple(shape)}"
        if tuple(found[name].shape) != tuple(shape):
            return f"tensor '{name}' has shape {tuple(found[name].shape)}, expected {tuple(shape)}"
    extra = [name for name in found if name not in expected]
    return f"has tensor '{extra[0]}', which the architecture lacks" if extra else None


def matched(path, found, expected):
    """``found`` with the network's names (a ``0.`` prefix removed where that matches)."""
    if first_mismatch(expected, found) is None:
        return found
    if all(k.startswith("0.") for k in found):
        stripped = {k[2:]: v for k, v in found.items()}
        if first_mismatch(expected, stripped) is None:
            return stripped
    raise TeacherFileError(f"{path}: {first_mismatch(expected, found)} (architecture: the "
                           "experiment's teacher block)")  # fmt: skip


def network_shapes(spec):
    """{name: shape} of the plain network a teacher spec builds."""
    from .models import build_model

    return {k: tuple(v.shape) for k, v in build_model(spec)[0].state_dict().items()}


def spec_for(teacher, input_shape, num_classes, dataset_name):
    from .models import teacher_spec

    return teacher_spec(teacher, input_shape, num_classes, catalog.input_stats(dataset_name))


def config_problems(name, exp, base="."):
    """What the config check reports about ``ensemble.checkpoints`` before any job."""
    where = f"config key 'experiments.{name}.ensemble.checkpoints'"
    try:
        files = plan.external_teacher_files(exp["ensemble"]["checkpoints"], base)
    except ValueError as error:
        return [f"{where}: {error}"]
    size = exp["ensemble"]["size"]
    if len(files) != size:
        return [f"{where}: {len(files)} teacher file(s), but ensemble.size is {size}"]
    shape, classes = catalog.input_and_classes(exp["dataset"])
    expected = None
    if shape is not None and classes is not None:  # known without the data
        expected = network_shapes(spec_for(exp["teacher"], shape, classes, exp["dataset"]["name"]))
    for path in files:
        try:
            found = read_state_dict(path)
            if expected is not None:
                matched(path, found, expected)
        except TeacherFileError as error:
            return [f"{where}: {error}"]
    return []


def import_teachers(data_path, teacher, seeds, files, out):
    """Write ``files`` as the pipeline's checkpoints of member ``seeds`` under ``out``."""
    from .datasets import Dataset
    from .models import TASK_OUTPUT

    data = Dataset.load(data_path)
    spec = spec_for(teacher, data.input_shape, data.num_classes, data.name)
    expected = network_shapes(spec)
    paths = []
    for seed, file in zip(seeds, files, strict=True):
        state = matched(file, read_state_dict(file), expected)
        state = {f"0.{k}": state[k].float() if state[k].is_floating_point() else state[k]
                 for k in expected}  # fmt: skip
        path = Path(plan.checkpoint(out, seed))
        save_checkpoint(
            path, spec=spec, state_dicts=[state], output=TASK_OUTPUT[data.task], seed=seed,
            history=[[]], val_loss=[math.nan], imported_from=str(file),
        )  # fmt: skip
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--teacher", type=json.loads, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    jobguard.add_log_argument(parser)
    args = parser.parse_args(argv)
    record = provenance.start(config={"teacher": args.teacher, "files": args.files},
                              inputs=[args.data])  # fmt: skip
    with jobguard.owning(args.out, args.log):
        paths = import_teachers(args.data, args.teacher, args.seeds, args.files, args.out)
        for seed, path, file in zip(args.seeds, paths, args.files, strict=True):
            member = copy.deepcopy(record)
            member["inputs"][file] = file_sha256(file)  # this member's own file
            member["seeds"] = {"member": seed, "pack": args.seeds}
            provenance.write_sidecar(member, [path])
            print(f"seed {seed}: imported {path}")
        manifest.write(args.out)  # last: the pack's folder is complete


if __name__ == "__main__":
    main()
