"""``clusterbench report --all``: every table (Markdown + LaTeX) and every figure into a folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clusterbench.fsutil import disk_full_error, is_disk_full, staged_dir, write_text_atomic
from clusterbench.report.figures import FIGURE_MAKERS, FigureReport, make_figures
from clusterbench.report.render import Results, TableResult, fill_table, render_latex, render_markdown
from clusterbench.report.spec import load_papers


@dataclass
class BuildReport:
    tables: list[TableResult] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    figures: FigureReport = field(default_factory=FigureReport)


def n_steps() -> int:
    """How many ``on_step`` calls :func:`write_all` makes (tables + figure families)."""
    return sum(len(p.tables) for p in load_papers().values()) + len(FIGURE_MAKERS)


def write_all(out: Path, results: Results, *, implemented: set[str] | None = None,
              on_step: Callable[[str], None] | None = None) -> BuildReport:
    """Write ``out/<paper>/table-<n>.{md,tex}``, ``out/figures/*.png``, ``out/figures/MISSING.md``
    and ``out/index.md``. Everything is written into a temporary folder beside ``out`` first and
    moved into place only when complete (``fsutil.staged_dir``): a failure leaves ``out`` as it
    was, never half-written. Returns what was written (paths under ``out``). ``on_step(label)`` is
    called as each table and each figure family starts (:func:`n_steps` calls: progress)."""
    final = Path(out)
    tmp: Path | None = None
    try:
        with staged_dir(final) as tmp:
            rep = _write_into(tmp, results, implemented=implemented, on_step=on_step)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        where = Path(exc.filename) if exc.filename else final
        if tmp is not None and where.is_relative_to(tmp):  # name the file as the user will look for it
            where = final / where.relative_to(tmp)
        raise disk_full_error(where, what=f"nothing was written: {final} is as it was") from None
    rep.files = [final / p.relative_to(tmp) for p in rep.files]
    rep.figures.made = [final / p.relative_to(tmp) for p in rep.figures.made]
    return rep


def _write_into(out: Path, results: Results, *, implemented: set[str] | None = None,
                on_step: Callable[[str], None] | None = None) -> BuildReport:
    rep = BuildReport()
    index = ["# clusterbench report", "", f"Run records: `{results.home}`", "", "## Tables", ""]
    for pid, paper in load_papers().items():
        index.append(f"### {paper.title} (`{pid}`)")
        index.append("")
        for num, spec in paper.tables.items():
            if on_step:
                on_step(f"{pid} {spec.label}")
            t = fill_table(spec, results, implemented=implemented)
            rep.tables.append(t)
            for ext, text in (("md", render_markdown(t)), ("tex", render_latex(t))):
                path = out / pid / f"table-{num}.{ext}"
                write_text_atomic(path, text)
                rep.files.append(path)
            index.append(f"- [{spec.label}]({pid}/table-{num}.md) ([LaTeX]({pid}/table-{num}.tex)): "
                         f"{t.n_measured} of {t.n_to_fill} cells measured")
        index.append("")
    rep.figures = make_figures(results.records(), out / "figures", on_step=on_step)
    index += ["## Figures", ""]
    index += [f"- [{p.relative_to(out)}]({p.relative_to(out)})" for p in rep.figures.made] or ["- none"]
    index += ["", "## Missing figures", ""]
    index += [f"- {m}" for m in rep.figures.missing] or ["- none"]
    missing = "# Missing figures\n\n" + "".join(f"- {m}\n" for m in rep.figures.missing or ["none"])
    write_text_atomic(out / "figures" / "MISSING.md", missing)
    if results.warnings:
        index += ["", "## Skipped run records", ""] + [f"- {w}" for w in results.warnings]
    write_text_atomic(out / "index.md", "\n".join(index) + "\n")
    rep.files += [out / "figures" / "MISSING.md", out / "index.md"]
    return rep
