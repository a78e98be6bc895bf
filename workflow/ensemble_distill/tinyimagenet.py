"""Tiny ImageNet (200 classes, 64x64 RGB, uint8) from the archive cs231n publishes or from
that archive extracted, in its own layout under the data root::

    tiny-imagenet-200.zip                  MD5 90528d7ca1a48142e341f4ef8d21d0de
    tiny-imagenet-200/wnids.txt            the 200 class ids (WordNet ids)
    tiny-imagenet-200/train/<wnid>/images/<wnid>_<i>.JPEG     500 per class
    tiny-imagenet-200/val/val_annotations.txt                 file, wnid, box (tab-separated)
    tiny-imagenet-200/val/images/val_<i>.JPEG                 10,000

Splits as Diversity Matters (B.1): the first 450 training images of each class (by i)
train, the last 50 validate, the official validation set is the test set (the official
test labels are not public). A class's index is its wnid's position in sorted order (as
torchvision's ImageFolder numbers them). With ``verify`` the images are read from the
archive itself once its MD5 matches the published one, so every pixel read was checked;
an extracted folder has no published checksums, so reading it needs ``verify: false``.
"""

import io
import re
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from .cifar import md5
from .io import DataError

FOLDER = "tiny-imagenet-200"
ARCHIVE = "tiny-imagenet-200.zip"
ARCHIVE_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"  # 248,100,043 bytes
SIDE = 64


class Folder:
    """The extracted layout: names relative to ``<root>/tiny-imagenet-200``."""

    def __init__(self, path):
        self.path = path

    def read(self, name):
        try:
            return (self.path / name).read_bytes()
        except OSError as error:
            raise DataError(f"tinyimagenet: cannot read {self.path / name}: {error}") from None

    def listing(self, folder):
        found = self.path / folder
        return sorted(f"{folder}/{p.name}" for p in found.iterdir()) if found.is_dir() else []

    def where(self, name):
        return self.path / name


class Archive:
    """The zip: the same names, inside its ``tiny-imagenet-200/`` folder."""

    def __init__(self, path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise DataError(f"tinyimagenet: {path} is not a readable zip: {error}") from None
        self.names = set(self.zip.namelist())

    def read(self, name):
        try:
            return self.zip.read(f"{FOLDER}/{name}")
        except KeyError:
            raise DataError(f"tinyimagenet: {self.path} lacks {FOLDER}/{name}") from None

    def listing(self, folder):
        prefix = f"{FOLDER}/{folder}/"
        inside = (n[len(prefix) :] for n in self.names if n.startswith(prefix))
        return sorted(f"{folder}/{n}" for n in inside if n and "/" not in n)

    def where(self, name):
        return f"{self.path}:{FOLDER}/{name}"


def open_source(data_root, verify=True):
    """The archive (MD5-checked with ``verify``) where it is, else the extracted folder
    (only without ``verify``); errors say what was looked for."""
    root = Path(data_root or ".")
    archive, folder = root / ARCHIVE, root / FOLDER
    if archive.is_file():
        if verify and (found := md5(archive)) != ARCHIVE_MD5:
            raise DataError(
                f"tinyimagenet: checksum mismatch for {archive}: expected md5 {ARCHIVE_MD5} (the "
                f"published archive), found {found}; use the official file, or verify: false "
                "for stand-in files"
            )
        return Archive(archive)
    if folder.is_dir():
        if verify:
            raise DataError(
                f"tinyimagenet: {folder} is an extracted folder, which has no published "
                f"checksums; put {ARCHIVE} (md5 {ARCHIVE_MD5}) under data_root to check every "
                "image, or set the dataset's verify: false"
            )
        return Folder(folder)
    raise DataError(
        f"tinyimagenet: neither {archive} nor {folder}/ found; point config key 'data_root' at "
        f"the folder holding {ARCHIVE} (http://cs231n.stanford.edu/{ARCHIVE})"
    )


def raw_files(data_root):
    """The files the rules take as inputs: the archive, or the extracted folder's class list
    and validation annotations (not its 110k images)."""
    root = Path(data_root or ".")
    if (root / ARCHIVE).is_file():
        return [root / ARCHIVE]
    return [root / FOLDER / "wnids.txt", root / FOLDER / "val" / "val_annotations.txt"]


def image_number(name):
    """i of ``.../<wnid>_<i>.JPEG`` (the training images' order)."""
    match = re.search(r"_(\d+)\.JPEG$", name)
    if match is None:
        raise DataError(f"tinyimagenet: unexpected training file name {name}")
    return int(match.group(1))


def decode(source, names):
    """uint8 (N, 3, 64, 64) of the named JPEGs (greyscale ones repeated to RGB)."""
    out = np.empty((len(names), 3, SIDE, SIDE), dtype=np.uint8)
    for k, name in enumerate(names):
        try:
            image = Image.open(io.BytesIO(source.read(name))).convert("RGB")
        except OSError as error:
            where = source.where(name)
            raise DataError(f"tinyimagenet: {where} is not an image: {error}") from None
        if image.size != (SIDE, SIDE):
            raise DataError(
                f"tinyimagenet: {source.where(name)} is {image.size[0]}x{image.size[1]}, "
                f"expected {SIDE}x{SIDE}"
            )
        out[k] = np.asarray(image).transpose(2, 0, 1)
    return out


def training_files(source, wnids, val_per_class):
    """(train names, train labels, val names, val labels): per class, the first images by
    number train and the last ``val_per_class`` validate."""
    split = {"train": ([], []), "val": ([], [])}
    sizes = {}
    for label, wnid in enumerate(wnids):
        names = sorted(source.listing(f"train/{wnid}/images"), key=image_number)
        sizes[wnid] = len(names)
        cut = len(names) - val_per_class
        for part, chosen in (("train", names[:cut]), ("val", names[cut:])):
            split[part][0].extend(chosen)
            split[part][1].extend([label] * len(chosen))
    if len(set(sizes.values())) != 1 or min(sizes.values()) <= val_per_class:
        counts = sorted(set(sizes.values()))
        raise DataError(
            f"tinyimagenet: every class needs the same number (> val_per_class "
            f"{val_per_class}) of training images under {source.where('train')}; found "
            f"{counts[:5]} images per class"
        )
    return (*split["train"], *split["val"])


def test_files(source, wnids):
    """(names, labels) of the official validation set, from its annotation file."""
    index = {w: i for i, w in enumerate(wnids)}
    where = source.where("val/val_annotations.txt")
    names, labels = [], []
    for number, line in enumerate(source.read("val/val_annotations.txt").decode().splitlines(), 1):
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise DataError(
                f"tinyimagenet: {where} line {number}: expected '<file>\\t<wnid>\\t...' with "
                f"one of the {len(wnids)} wnids, found {line[:60]!r}"
            )
        names.append(f"val/images/{fields[0]}")
        labels.append(index[fields[1]])
    return names, labels


def load_tinyimagenet_arrays(data_root, verify=True, val_per_class=50, limits=None):
    """{"train" | "val" | "test": (uint8 images (N, 3, 64, 64), int64 labels)} and the
    number of classes. ``limits``: keep the first n of a split (tests)."""
    source = open_source(data_root, verify)
    wnids = sorted(source.read("wnids.txt").decode().split())
    if not wnids or len(set(wnids)) != len(wnids):
        raise DataError(f"tinyimagenet: {source.where('wnids.txt')} lists no or repeated wnids")
    train, y_train, val, y_val = training_files(source, wnids, val_per_class)
    splits = {"train": (train, y_train), "val": (val, y_val), "test": test_files(source, wnids)}
    limits = limits or {}
    out = {}
    for part, (names, labels) in splits.items():
        keep = limits.get(part)
        out[part] = (decode(source, names[:keep]), np.asarray(labels[:keep], dtype=np.int64))
    return out, len(wnids)
