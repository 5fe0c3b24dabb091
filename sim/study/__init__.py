"""Monte Carlo sensitivity studies: uncertain inputs in; which option wins, by how much, and which
input matters, out. On this machine's processes or on a Dask cluster, with identical results.

>>> from sim.study import load_study, run_study
>>> study = load_study("configs/studies/seed-sensitivity.toml")    # doctest: +SKIP
>>> result = run_study(study, "results/seed-sensitivity")           # doctest: +SKIP
>>> result.analysis["probability_cheapest"]                          # doctest: +SKIP
"""

from __future__ import annotations

from sim.study.runner import StudyResult, make_design, run_study
from sim.study.spec import Study, StudyFile, load_study, study_from_dict

__all__ = [
    "Study",
    "StudyFile",
    "StudyResult",
    "load_study",
    "make_design",
    "run_study",
    "study_from_dict",
]
