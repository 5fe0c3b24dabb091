"""Outputs never destroy what sim did not write (issue 8): every writer, every kind of target.

Every test works in a temporary directory with ``HOME`` pointed at another one; the refusals of a
filesystem root and of the home directory are tested through the path check itself, never against
the real ``/`` or ``~``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import SEED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.output import (
    MANIFEST,
    STAGING_PREFIX,
    OutputError,
    carries_provenance,
    check_location,
    figure_writer,
    json_writer,
    parquet_writer,
    plan_directory,
    read_manifest,
    text_writer,
    write_file,
    write_result,
)

SHORT = ("--set", "scenario.duration_days=0.0416666666666666667")


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` (relative path -> content hash or 'dir')."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def sim_cli(
    *args: str, cwd: Path, home: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home or cwd / "home")}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path


def refused(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr


# =========================================================================== the location check
@pytest.mark.parametrize("where", ["/", "/proc/.."])
def test_a_filesystem_root_is_refused(where: str, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="filesystem root"):
        check_location(where, cwd=tmp_path, home=tmp_path / "home")


def test_the_home_directory_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(OutputError, match="home directory"):
        check_location(home, cwd=tmp_path / "elsewhere", home=home)
    with pytest.raises(OutputError, match="home directory"):
        check_location("~", cwd=tmp_path, home=Path("~").expanduser())
    # below home is fine
    assert check_location(home / "results", cwd=tmp_path, home=home) == home / "results"


@pytest.mark.parametrize("out", [".", "..", "{cwd}", "{parent}", "sub/.."])
def test_the_current_directory_and_its_ancestors_are_refused(out: str, work: Path) -> None:
    cwd = work / "project"
    (cwd / "configs").mkdir(parents=True)
    (cwd / "configs" / "keep.toml").write_text("x = 1\n")
    (cwd / "sub").mkdir()
    target = out.format(cwd=cwd, parent=work)
    before = snapshot(work)
    r = sim_cli("run", str(SEED), *SHORT, "--out", target, cwd=cwd, home=work / "home")
    refused(r, "refused", "current directory")
    assert snapshot(work) == before


# =========================================================================== run
def test_a_directory_of_someone_elses_files_is_refused(work: Path) -> None:
    mine = work / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "keep.txt").write_text("keep")
    (mine / "sub" / "deep.txt").write_text("deep")
    before = snapshot(work)
    r = sim_cli("run", str(SEED), *SHORT, "--out", "mine", cwd=work)
    refused(r, "mine: refused", "keep.txt", "nothing was changed")
    assert snapshot(work) == before


def test_a_file_target_for_a_directory_writer_is_refused(work: Path) -> None:
    (work / "notes.txt").write_text("notes")
    before = snapshot(work)
    r = sim_cli("run", str(SEED), *SHORT, "--out", "notes.txt", cwd=work)
    refused(r, "notes.txt: refused", "not a directory")
    assert snapshot(work) == before


def test_the_results_directory_itself_is_refused(work: Path) -> None:
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", cwd=work)  # results/seed
    assert r.returncode == 0, r.stderr
    before = snapshot(work)
    r = sim_cli("run", str(SEED), *SHORT, "--out", "results", cwd=work)
    refused(r, "results: refused", "seed")
    assert snapshot(work) == before


def test_a_new_target_is_created_with_its_parents(work: Path) -> None:
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", "--out", "a/b/c", cwd=work)
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (work / "a" / "b" / "c").iterdir())
    assert files == [
        "costs.parquet", "manifest.json", "meters.parquet", "report.html", "summary.json"
    ]  # fmt: skip
    manifest = read_manifest(work / "a" / "b" / "c")
    assert manifest is not None
    for name, entry in manifest["files"].items():
        digest = hashlib.sha256((work / "a/b/c" / name).read_bytes()).hexdigest()
        assert entry["sha256"] == digest and entry["producer"] == "run"
    assert manifest["staging"] == [] and manifest["pending"] == {}


def test_traffic_png_survives_a_later_run_and_other_files_are_kept(work: Path) -> None:
    r = sim_cli("traffic", str(SEED), "--days", "0.05", cwd=work)
    assert r.returncode == 0, r.stderr
    seed_dir = work / "results" / "seed"
    png = (seed_dir / "traffic.png").read_bytes()
    (seed_dir / "notes.md").write_text("my notes")
    r = sim_cli("run", str(SEED), *SHORT, cwd=work)
    assert r.returncode == 0, r.stderr
    assert (seed_dir / "traffic.png").read_bytes() == png
    assert (seed_dir / "notes.md").read_text() == "my notes"
    assert (seed_dir / "summary.json").is_file()
    # and the traffic figure can be redrawn there after the run
    r = sim_cli("traffic", str(SEED), "--days", "0.05", "--seed", "3", cwd=work)
    assert r.returncode == 0, r.stderr
    assert (seed_dir / "summary.json").is_file() and (seed_dir / "notes.md").is_file()


def test_a_file_sim_wrote_but_someone_changed_is_refused(work: Path) -> None:
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", "--out", "r", cwd=work)
    assert r.returncode == 0, r.stderr
    (work / "r" / "summary.json").write_text('{"edited": true}\n')
    before = snapshot(work)
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", "--out", "r", cwd=work)
    refused(r, "summary.json: refused", "changed since sim wrote it")
    assert snapshot(work) == before


def test_a_foreign_file_with_a_result_name_is_refused(work: Path) -> None:
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", "--out", "r", cwd=work)
    assert r.returncode == 0, r.stderr
    (work / "r" / "sweep.png").write_bytes(b"not mine to replace")
    before = snapshot(work)
    r = sim_cli(
        "sweep", str(SEED), *SHORT, "--vary", "traffic.requests_per_day=1e6:2e6:2", "--out", "r",
        "-q", cwd=work,
    )  # fmt: skip
    refused(r, "sweep.png: refused", "sim did not write this file")
    assert snapshot(work) == before


def test_a_killed_runs_staging_is_removed_by_the_next_run(work: Path) -> None:
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", "--out", "r", cwd=work)
    assert r.returncode == 0, r.stderr
    out = work / "r"
    manifest = json.loads((out / MANIFEST).read_text())
    token = "0123456789abcdef"
    manifest["staging"] = [token]
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / f"{STAGING_PREFIX}{token}").mkdir()
    (out / f"{STAGING_PREFIX}{token}" / "meters.parquet").write_bytes(b"half written")
    # a staging-like directory this package did not record is someone else's
    (out / f"{STAGING_PREFIX}ffffffffffffffff").mkdir()
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", "--out", "r", cwd=work)
    assert r.returncode == 0, r.stderr
    assert not (out / f"{STAGING_PREFIX}{token}").exists()
    assert (out / f"{STAGING_PREFIX}ffffffffffffffff").is_dir()
    assert read_manifest(out)["staging"] == []  # type: ignore[index]


def test_a_directory_a_killed_run_was_creating_is_reused(work: Path) -> None:
    """A run killed right after creating its directory leaves only its manifest and staging."""
    out = work / "r"
    out.mkdir()
    token = "00000000000000aa"
    (out / MANIFEST).write_text(
        json.dumps({"format": "sim.manifest/1", "files": {}, "staging": [token], "pending": {}})
    )
    (out / f"{STAGING_PREFIX}{token}").mkdir()
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", "--out", "r", cwd=work)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "costs.parquet",
        "manifest.json",
        "meters.parquet",
        "report.html",
        "summary.json",
    ]


def test_a_location_that_cannot_be_written_is_one_line(work: Path) -> None:
    r = sim_cli("run", str(SEED), *SHORT, "--out", "/proc/sim-cannot-write-here", cwd=work)
    refused(r, "cannot be written")
    assert len(r.stderr.strip().splitlines()) == 1
    (work / "afile").write_text("x")
    r = sim_cli("run", str(SEED), *SHORT, "--out", "afile/sub", cwd=work)
    refused(r, "afile/sub: cannot be created", "is a file")
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_full_disk_is_an_output_error_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r"
    write_result(out, "run", {"a.json": json_writer({"a": 1})})
    before = snapshot(tmp_path)

    def full(tmp: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="the disk is full"):
        write_result(out, "run", {"a.json": json_writer({"a": 2}), "b.json": full})
    assert snapshot(tmp_path) == before
    # a new directory that fails is not left behind
    with pytest.raises(OutputError, match="the disk is full"):
        write_result(tmp_path / "new" / "deeper", "run", {"b.json": full})
    assert not (tmp_path / "new").exists()
    with pytest.raises(OutputError, match="the disk is full"):
        write_file(tmp_path / "pic.png", full)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "command",
    [
        ["run", str(SEED), *SHORT],
        ["sweep", str(SEED), *SHORT, "--vary", "traffic.requests_per_day=1e6:2e6:2"],
        ["traffic", str(SEED), "--days", "0.05"],
        ["traffic", str(SEED), "--days", "0.05", "--out", "pic.png"],
    ],
)
def test_dry_run_says_what_and_writes_nothing(command: list[str], work: Path) -> None:
    before = snapshot(work)
    r = sim_cli(*command, "--dry-run", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "would create" in r.stdout and "nothing was written" in r.stdout
    if command[0] != "traffic" or "--out" not in command:
        assert "estimate for this run" in r.stdout or "estimate for this sweep" in r.stdout
    assert snapshot(work) == before


def test_dry_run_of_a_replacing_run_lists_what_it_replaces(work: Path) -> None:
    r = sim_cli("run", str(SEED), *SHORT, "--out", "r", cwd=work)
    assert r.returncode == 0, r.stderr
    before = snapshot(work)
    r = sim_cli("run", str(SEED), *SHORT, "--out", "r", "--no-plots", "--dry-run", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "replaced (written by sim before): meters.parquet" in r.stdout
    assert "removed (written by sim before, not written now): cost_per_hour.png" in r.stdout
    assert snapshot(work) == before
    r = sim_cli("run", str(SEED), *SHORT, "--out", "mine", "--dry-run", cwd=work)
    assert r.returncode == 0
    (work / "mine2").mkdir()
    (work / "mine2" / "x").write_text("x")
    r = sim_cli("run", str(SEED), *SHORT, "--out", "mine2", "--dry-run", cwd=work)
    refused(r, "mine2: refused")


# =========================================================================== sweep, traffic, study
def test_sweep_out_never_destroys(work: Path) -> None:
    mine = work / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("keep")
    before = snapshot(work)
    r = sim_cli(
        "sweep", str(SEED), *SHORT, "--vary", "traffic.requests_per_day=1e6:2e6:2", "--out",
        "mine", "-q", cwd=work,
    )  # fmt: skip
    refused(r, "mine: refused")
    assert snapshot(work) == before


def test_traffic_file_targets(work: Path) -> None:
    r = sim_cli("traffic", str(SEED), "--days", "0.05", "--out", "pic.png", cwd=work)
    assert r.returncode == 0, r.stderr
    assert carries_provenance(work / "pic.png")
    first = (work / "pic.png").read_bytes()
    r = sim_cli("traffic", str(SEED), "--days", "0.05", "--seed", "9", "--out", "pic.png", cwd=work)
    assert r.returncode == 0, r.stderr  # its own figure is replaced
    assert (work / "pic.png").read_bytes() != first
    (work / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\nsomeone's photo")
    before = snapshot(work)
    r = sim_cli("traffic", str(SEED), "--days", "0.05", "--out", "photo.png", cwd=work)
    refused(r, "photo.png: refused", "sim did not write it")
    r = sim_cli("traffic", str(SEED), "--out", "pic.txt", cwd=work)
    refused(r, "pic.txt", "expected a .png file")
    for days in ("nan", "inf", "-1", "0"):
        r = sim_cli("traffic", str(SEED), "--days", days, cwd=work)
        refused(r, "--days", "finite")
    assert snapshot(work) == before


def test_traffic_into_an_existing_directory_writes_inside_it(work: Path) -> None:
    (work / "figs").mkdir()
    r = sim_cli("traffic", str(SEED), "--days", "0.05", "--out", "figs", cwd=work)
    assert r.returncode == 0, r.stderr
    assert (work / "figs" / "traffic.png").is_file()
    assert "wrote figs/traffic.png" in r.stdout
    assert sorted(p.name for p in work.iterdir()) == ["figs", "home"]


def test_study_refuses_a_foreign_directory_and_a_dry_run_writes_nothing(work: Path) -> None:
    study = work / "study.toml"
    study.write_text(
        f'[study]\nname = "s"\nruns = 8\n[base]\npath = "{SEED}"\nset = ["scenario.duration_days=1"]\n'
        '[[inputs]]\nfield = "traffic.requests_per_day"\ndistribution = "uniform"\n'
        "low = 1e6\nhigh = 2e6\n"
    )
    (work / "mine").mkdir()
    (work / "mine" / "keep.txt").write_text("keep")
    before = snapshot(work)
    r = sim_cli("study", str(study), "--out", "mine", cwd=work)
    refused(r, "mine already holds files")
    r = sim_cli("study", str(study), "--out", ".", cwd=work)
    refused(r, "current directory")
    r = sim_cli("study", str(study), "--dry-run", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "would create results/s/" in r.stdout and "estimate for this study" in r.stdout
    assert snapshot(work) == before


# =========================================================================== the property
NAMES = ("meters.parquet", "summary.json", "notes.txt", "a.png", "keep", "manifest.json")


@st.composite
def trees(draw: st.DrawFn) -> tuple[dict[str, str | None], str, list[str]]:
    """A tree of existing entries (path -> text, or None for a directory), a target, and the names
    a command writes there."""
    tree: dict[str, str | None] = {}
    for _ in range(draw(st.integers(0, 6))):
        depth = draw(st.integers(1, 3))
        parts = [draw(st.sampled_from(("t", "u", *NAMES))) for _ in range(depth)]
        path = "/".join(parts)
        if any(path.startswith(k + "/") for k, v in tree.items() if v is not None) or any(
            k.startswith(path + "/") for k in tree
        ):
            continue
        tree[path] = draw(st.one_of(st.none(), st.text(max_size=5)))
    target = draw(st.sampled_from(["t", "t/u", "u", *[k for k in tree][:3]]))
    names = draw(st.lists(st.sampled_from(NAMES[:-1]), min_size=1, max_size=3, unique=True))
    return tree, target, names


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=trees())
def test_no_pre_existing_foreign_file_is_ever_removed(
    case: tuple[dict[str, str | None], str, list[str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    tree, target, names = case
    root = tmp_path_factory.mktemp("tree")
    for path, text in sorted(tree.items()):
        p = root / path
        if text is None:
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    before = snapshot(root)
    files = {n: text_writer(f"new {n}") for n in names}
    try:
        write_result(root / target, "run", files)
    except OutputError:
        assert snapshot(root) == before  # a refusal changes nothing
        return
    after = snapshot(root)
    out = (root / target).relative_to(root)
    prefix = "" if str(out) == "." else f"{out}/"
    for path, digest in before.items():
        # everything that was there is still there, unchanged, but for what this command writes
        if path in {f"{prefix}{n}" for n in names} | {f"{prefix}{MANIFEST}"}:
            continue
        assert after.get(path) == digest, path
    for n in names:
        assert (root / target / n).read_text() == f"new {n}"


def test_writers_carry_provenance(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parquet_writer(pa.table({"a": [1]}), {"x": 1})(tmp_path / "t.parquet")
    fig = plt.figure()
    figure_writer(fig, {"x": 1})(tmp_path / "f.png")
    (tmp_path / "plain.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (tmp_path / "plain.txt").write_text("hello")
    assert carries_provenance(tmp_path / "t.parquet")
    assert carries_provenance(tmp_path / "f.png")
    assert not carries_provenance(tmp_path / "plain.png")
    assert not carries_provenance(tmp_path / "plain.txt")


def test_plan_directory_for_a_result_lists_replacements(tmp_path: Path) -> None:
    out = tmp_path / "r"
    write_result(out, "run", {"a.json": json_writer(1), "b.json": json_writer(2)})
    (out / "c.txt").write_text("mine")
    plan = plan_directory(out, "run", ["a.json"])
    assert plan.replace == ["a.json"] and plan.remove == ["b.json"] and plan.kept == 1
    write_result(out, "run", {"a.json": json_writer(3)})
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "c.txt", "manifest.json"]
    # another producer's files stay when this one writes again
    write_result(out, "traffic", {"t.json": json_writer(0)})
    write_result(out, "run", {"a.json": json_writer(4)})
    assert (out / "t.json").is_file()


# =========================================================================== adversarial cases
def test_a_manifest_cannot_name_files_outside_its_directory(work: Path) -> None:
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", "--out", "r", cwd=work)
    assert r.returncode == 0, r.stderr
    victim = work / "victim.txt"
    victim.write_text("keep me")
    manifest = json.loads((work / "r" / MANIFEST).read_text())
    digest = hashlib.sha256(victim.read_bytes()).hexdigest()
    for name in ("../victim.txt", str(victim)):
        manifest["files"][name] = {"sha256": digest, "bytes": 7, "producer": "run"}
    (work / "r" / MANIFEST).write_text(json.dumps(manifest))
    r = sim_cli("run", str(SEED), *SHORT, "--no-plots", "--out", "r", cwd=work)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "keep me"


def test_adopting_an_old_study_claims_only_files_with_sims_provenance(tmp_path: Path) -> None:
    from sim.output import adopt_directory

    d = tmp_path / "old"
    d.mkdir()
    (d / "study.json").write_text("{}")
    (d / "results.parquet").write_bytes(b"my own file")
    adopt_directory(d, "study", ["study.json", "results.parquet"], [], trusted=["study.json"])
    manifest = read_manifest(d)
    assert manifest is not None and set(manifest["files"]) == {"study.json"}
    with pytest.raises(OutputError, match="sim did not write this file"):
        write_result(d, "study", {"results.parquet": text_writer("x")}, remove_stale=False)
    assert (d / "results.parquet").read_bytes() == b"my own file"


def test_a_failed_write_into_an_empty_directory_leaves_it_empty(tmp_path: Path) -> None:
    d = tmp_path / "empty"
    d.mkdir()

    def broken(tmp: Path) -> None:
        raise ValueError("a writer's bug")

    with pytest.raises(ValueError):
        write_result(d, "run", {"a.json": broken})
    assert list(d.iterdir()) == []


def test_names_too_long_and_symbolic_link_traps_are_refused_before_any_work(work: Path) -> None:
    long = "x" * 300
    r = sim_cli("run", str(SEED), *SHORT, "--out", f"lp/a/{long}/c", cwd=work)
    refused(r, "longer than the filesystem allows")
    assert not (work / "lp").exists()
    (work / "loop1").symlink_to("loop2")
    (work / "loop2").symlink_to("loop1")
    (work / "broken").symlink_to("nowhere")
    for target in ("loop1", "broken"):
        r = sim_cli("run", str(SEED), *SHORT, "--out", target, cwd=work)
        refused(r, f"{target}: refused")
    assert not (work / "nowhere").exists()
