"""The public surface: ``ragline.__all__`` and the error tree."""

from __future__ import annotations

import inspect

import ragline
from ragline import errors


def test_all_is_exactly_the_public_api():
    public = {n for n in dir(ragline) if not n.startswith("_")} - {
        # submodules are reachable as attributes once imported; they are not API names
        n
        for n, v in vars(ragline).items()
        if inspect.ismodule(v)
    }
    assert set(ragline.__all__) - {"__version__"} == public


def test_every_error_derives_from_the_base_and_is_drawn_in_the_docstring():
    classes = [v for v in vars(errors).values() if inspect.isclass(v) and issubclass(v, Exception)]
    assert set(errors.__all__) == {c.__name__ for c in classes}
    for cls in classes:
        assert issubclass(cls, errors.RaglineError)
        assert cls.__name__ in errors.__doc__, f"{cls.__name__} missing from the tree drawing"


def test_errors_carry_hints():
    e = errors.CollectionNotFoundError("x")
    assert "ragline collections" in str(e) and e.exit_code == 5 and e.http_status == 404
    e = errors.FileTooLargeError("a.txt", "too big", hint="raise the limit")
    assert e.source == "a.txt" and "raise the limit" in str(e)


def test_no_error_class_lives_outside_the_error_tree():
    import importlib
    import pkgutil

    strays = []
    for info in pkgutil.walk_packages(ragline.__path__, "ragline."):
        if ".testing" in info.name:
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue  # an optional extra that is not installed
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Exception)
                and obj.__module__ == info.name
                and info.name != "ragline.errors"
                and not name.startswith("_")  # private control flow, never escapes
            ):
                strays.append(f"{info.name}.{name}")
    assert strays == [], "define errors in ragline/errors.py"


def test_cli_start_up_does_not_import_heavy_modules():
    """`ragline --help` stays fast: scipy.stats, onnxruntime and llama.cpp load on demand."""
    import subprocess
    import sys

    code = (
        "import sys, ragline.cli.main; "
        "print([m for m in ('scipy.stats', 'onnxruntime', 'llama_cpp', 'fastapi') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
