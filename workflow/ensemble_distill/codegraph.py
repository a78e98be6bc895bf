"""Which package source files a stage runs: its module and, transitively, every package
module it imports (relative imports, also those inside functions). Rules declare these
files as inputs, so editing a module reruns exactly the jobs whose code it is part of."""

import ast
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name


def module_path(module):
    """File of a dotted package-relative module name ('' is the package itself)."""
    base = PACKAGE_DIR.joinpath(*module.split(".")) if module else PACKAGE_DIR
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _with_parents(module):
    """A module and the packages above it (importing a.b runs a/__init__.py first)."""
    parts = module.split(".") if module else []
    return {".".join(parts[:i]) for i in range(len(parts) + 1)}


@cache
def imports_of(module):
    """Package modules that ``module`` imports directly (dotted, package-relative)."""
    path = module_path(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            anchor = package.split(".") if package else []
            anchor = anchor[: len(anchor) - (node.level - 1)]
            target = ".".join([*anchor, *([node.module] if node.module else [])])
            found |= _with_parents(target)
            for alias in node.names:  # `from . import provenance` imports a module
                candidate = f"{target}.{alias.name}" if target else alias.name
                if module_path(candidate).is_file():
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    found |= _with_parents(alias.name.partition(".")[2])
    return frozenset(found - {module})


def closure(module):
    """``module``, its parent packages, and everything they import, transitively (for a
    package, also its ``__main__``: what ``python -m <package>`` runs)."""
    seen, todo = set(), list(_with_parents(module))
    if module_path(f"{module}.__main__").is_file():
        todo.append(f"{module}.__main__")
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += imports_of(current)
    return seen


def module_files(module, root=PACKAGE_DIR.parent.parent):
    """Sorted source paths (relative to the workflow root) of ``closure(module)``."""
    return sorted(str(module_path(m).relative_to(root)) for m in closure(module))
