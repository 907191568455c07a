"""pdflatex check shared by the report and summary tests: compiles and fits the page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest


def pdflatex_fits(tmp_path: Path, name: str, text: str) -> str:
    """Compile ``text`` with pdflatex; assert it compiles and no line overflows (no "Overfull \\hbox") and no float is taller than the page.

    Returns the pdflatex log. Skips without pdflatex, except in CI (CI=true) where it fails.
    """
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is missing in CI: install texlive-latex-base texlive-latex-recommended")
        pytest.skip("pdflatex not installed (CI installs texlive-latex-base texlive-latex-recommended)")
    (tmp_path / f"{name}.tex").write_text(text, encoding="utf-8")
    p = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:]
    assert (tmp_path / f"{name}.pdf").stat().st_size > 1000
    log = (tmp_path / f"{name}.log").read_text(encoding="latin-1")
    overfull = re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)[^\n]*\n(.*)", log)
    assert not overfull, f"{len(overfull)} overfull line(s) (pt too wide, content): {overfull[:5]}"
    assert "Float too large" not in log, "a table is taller than the page"
    return log
