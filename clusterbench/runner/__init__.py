"""The runner: expand method x data set x seed into run specs, execute them (locally or on Slurm),
write one record per run, skip finished ones. :func:`run_grid` is the whole sequence."""

from clusterbench.runner.execute import execute_run
from clusterbench.runtime import seed_everything
from clusterbench.runner.executors import LocalExecutor, SlurmExecutor, assign_gpus
from clusterbench.runner.grid import GridRequest, GridResult, Outcome, plan, run_grid, summarize
from clusterbench.runner.spec import RunSpec, expand_grid, run_key, stratified_subset

__all__ = [
    "GridRequest", "GridResult", "LocalExecutor", "Outcome", "RunSpec", "SlurmExecutor", "assign_gpus", "execute_run",
    "expand_grid", "plan", "run_grid", "run_key", "seed_everything", "stratified_subset", "summarize",
]
