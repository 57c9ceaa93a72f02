"""`tether run`: the stages from logged data to a deployment decision, in one resumable run directory.

    results = run(RunConfig(data="logs.parquet"), "runs/mine")   # RunResults, also in runs/mine/results.json
    tether.report.memo.write_memo(results, "runs/mine")          # memo.md and memo.html
"""

from tether.workflow.config import PROFILES, RunConfig, resume_config
from tether.workflow.results import RunResults
from tether.workflow.run import load_data, run

__all__ = ["PROFILES", "RunConfig", "RunResults", "load_data", "resume_config", "run"]
