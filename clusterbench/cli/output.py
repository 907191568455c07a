"""Console output shared by the commands.

* :func:`stdout_console`: tables on stdout, as wide as the terminal, or :data:`PIPE_WIDTH`
  columns when piped (a log or ``| less`` gets whole cells, never ones folded to 8 characters).
* :class:`Steps`: progress of a command made of known steps (``report --all``: one step per
  table and figure family): a Rich bar on a terminal, one plain line per finished step when
  stderr is a log or a pipe (never a bar frame there), nothing with ``CLUSTERBENCH_QUIET=1``.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clusterbench.progress import hms, quiet

#: Width of tables printed to a pipe or a file (every listing: datasets, methods, runs, summary).
PIPE_WIDTH = 200


def stdout_console() -> Console:
    """A stdout console: the terminal's width, or :data:`PIPE_WIDTH` when not a terminal."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


class Steps:
    """``with Steps(total, "report") as s: s.start("dual-aae Table I"); ...``: a line names the
    step in progress (a slow one, such as the t-SNE figures, is then visible while it runs)."""

    def __init__(self, total: int, what: str, *, console: Console | None = None) -> None:
        self.total, self.what, self.n = total, what, 0
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal and not quiet()
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=self.console, transient=True) if self.live else None
        self.task = self.bar.add_task(what, total=total) if self.bar else None
        self.t0 = time.perf_counter()

    def __enter__(self) -> "Steps":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=self.n)
            self.bar.stop()

    def start(self, label: str) -> None:
        """The next step starts (the previous one is done)."""
        self.n += 1
        if self.bar is not None:
            self.bar.update(self.task, completed=self.n - 1, description=f"{self.what}: {label}")
        elif not quiet():
            self.console.print(f"{self.what} {self.n}/{self.total}: {label} (elapsed {hms(time.perf_counter() - self.t0)})",
                               highlight=False, soft_wrap=True, markup=False)


#: The cheapest cell of a paper table on real data (minutes on a laptop's CPU): (paper, table,
#: method, data set), and where a Debian/Ubuntu machine already has its files
#: (``apt install dataset-fashion-mnist``).
FIRST_CELL = ("dls", "3", "kmeans", "fashion-mnist")
FIRST_CELL_MIRROR = "/usr/share/datasets/fashion-mnist"


def first_cell_hint(why: str) -> str:
    """One paragraph pointing at :data:`FIRST_CELL`, with its table's own fill command."""
    # lazy: the table specs, only when the hint is printed
    import clusterbench.report.spec as S
    from clusterbench.report.render import fill_command

    paper, table, method, dataset = FIRST_CELL
    spec = S.get_table(paper, table)
    cell = next(c for c in spec.iter_cells() if c.method == method and c.dataset == dataset and not c.reported)
    return (f"{why} The cheapest cell on real data is {method} on {dataset} ({paper} {spec.label}; "
            f"about 15 minutes on 2 CPU cores with --jobs 2): `clusterbench fetch {dataset}` (Debian/Ubuntu "
            f"package dataset-fashion-mnist installed: `clusterbench fetch {dataset} --mirror {FIRST_CELL_MIRROR}`), "
            f"then `{fill_command(cell, spec.seeds, spec.command)} --jobs 2` and "
            f"`clusterbench report --paper {paper} --table {table}`.")
