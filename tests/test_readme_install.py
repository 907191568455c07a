"""The README's install commands keep an installed torch and write the CPU line out (issue 26.1).

A plain ``pip install torch...`` resolves to the CUDA build on Linux (~2.6 GB of nvidia wheels) and
replaces a CPU torch; ``--upgrade`` on the package install does the same. CI (``.ci/run``) installs
the pinned versions and then runs the README's test command verbatim.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def _pip_installs(block: str) -> list[list[str]]:
    """The argument lists of every ``pip install`` in a shell block (comments dropped)."""
    out = []
    for line in block.splitlines():
        line = line.split("#", 1)[0]
        for part in re.split(r"&&|;|\|\|", line):
            words = shlex.split(part)
            if words[:2] == ["pip", "install"]:
                out.append(words[2:])
    return out


def _setup_blocks() -> tuple[str, str]:
    blocks = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    main = [b for b in blocks if "pip install -e . " in b and "clusterbench run" in b]
    test = [b for b in blocks if 'pip install -e ".[all,test]"' in b and "pytest" in b]
    assert len(main) == 1 and len(test) == 1, "README: one main command block and one test command block"
    return main[0], test[0]


def _is_torch(arg: str) -> bool:
    return re.match(r"(torch|torchvision)([=<>!~ ]|$)", arg) is not None


def test_readme_commands_keep_an_installed_torch_and_spell_out_the_cpu_line() -> None:
    for block in _setup_blocks():
        installs = _pip_installs(block)
        torch_lines = [a for a in installs if any(_is_torch(x) for x in a)]
        assert torch_lines, f"no CPU torch line in:\n{block}"
        for args in torch_lines:  # torch only from PyTorch's CPU index (a plain one pulls CUDA)
            assert "--index-url" in args and args[args.index("--index-url") + 1] == CPU_INDEX, args
        package = [a for a in installs if any(x == "-e" for x in a)]
        assert package, block
        for args in package:  # the package install names no torch and upgrades nothing
            assert not any(_is_torch(x) for x in args), args
            assert not {"-U", "--upgrade", "--force-reinstall", "--ignore-installed", "-I"} & set(args), args
        # the CPU line is its own line, so a user with torch skips it without editing the rest
        assert all(ln.split("#")[0].strip().startswith("pip install torch") for ln in block.splitlines()
                   if "--index-url" in ln), block


def test_ci_installs_the_pinned_torch_then_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    _, test = _setup_blocks()
    last = test.strip().splitlines()[-1]
    assert last in ci.splitlines(), "CI must run the README's test command verbatim"
    pins = re.findall(r"pip install (torch==\S+ torchvision==\S+)", ci)
    assert pins, "CI installs the pinned torch"
    cpu = re.search(r"pip install (torch==\S+ torchvision==\S+) --index-url", test)
    assert cpu and cpu.group(1) == pins[0], "README's CPU line pins the versions CI tests"
    assert ci.index(pins[0]) < ci.index(last)
