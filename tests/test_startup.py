"""Start-up: each command imports only what it uses (a fresh interpreter's module set after the
command, not a timing). ``sim --help`` and ``sim validate`` import no scipy, pyarrow, matplotlib,
SALib or Dask (scipy.special alone took 0.3 s of ``sim validate``); ``sim run --no-plots`` no
matplotlib, SALib, Dask or scipy.stats; a study's analysis modules only when it analyses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEED

#: Heavy packages, by top-level name.
HEAVY = ("scipy", "pyarrow", "pandas", "matplotlib", "SALib", "dask", "distributed", "simpy")


def modules_after(*args: str) -> set[str]:
    """Every module a fresh interpreter holds after ``sim ARGS`` (which must succeed)."""
    code = (
        "import json, sys\n"
        "from sim.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize(
    "args", [("--help",), ("validate", str(SEED)), ("run", "--help"), ("study", "--help")]
)
def test_help_and_validate_import_nothing_heavy(args: tuple[str, ...]) -> None:
    loaded = packages(modules_after(*args))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_run_without_plots_imports_no_plotting_nor_study_packages(tmp_path: Path) -> None:
    loaded = modules_after(
        "run", str(SEED), "--set", "scenario.duration_days=1", "--no-plots", "-q",
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert not packages(loaded) & {"matplotlib", "SALib", "dask", "distributed"}
    assert "scipy.stats" not in loaded  # what the run needs of scipy: special, optimize
    assert (tmp_path / "run" / "summary.json").is_file()


def test_the_command_freezes_the_collector_as_it_ends_and_a_caller_keeps_it() -> None:
    """Run as the ``sim`` command, ``main`` freezes the garbage collector's objects on its way
    out (the interpreter's collections at exit then skip them); called with arguments, as a test
    or a script does, it leaves the caller's collector alone."""
    import gc

    from sim.cli import main

    before = gc.get_freeze_count()
    with pytest.raises(SystemExit):
        main(["--help"])
    assert gc.get_freeze_count() == before
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(gc.get_freeze_count() > 0))\n"
        "sys.argv = ['sim', '--help']\n"
        "from sim.cli import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True"
