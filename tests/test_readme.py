"""The README's numbers, verdicts, links and commands against what they describe."""
import re
from pathlib import Path

from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ModuleNotFoundError:                 # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
REPORT = (ROOT / "figures" / "REPORT.md").read_text()


def report_verdicts() -> dict[int, str]:
    rows = re.findall(r"^\| (\d+) \| .*? \| \*\*([a-z ]+)\*\* \|", REPORT, re.M)
    assert rows, "figures/REPORT.md: no claims table"
    return {int(n): verdict for n, verdict in rows}


def test_the_verdict_table_is_the_reports():
    section = README[README.index("## Results"):README.index("## Everyday DVC")]
    rows = re.findall(r"^\| (\d+) \| .* \| ([a-z ]+) \|$", section, re.M)
    assert {int(n): verdict for n, verdict in rows} == report_verdicts()


def test_the_verdict_summary_is_the_reports():
    counts = {"holds": 0, "does not hold": 0, "inconclusive": 0, "unreachable here": 0}
    for verdict in report_verdicts().values():
        counts[verdict] += 1
    m = re.search(r"Summary: (\d+) hold, (\d+) do not hold, (\d+) inconclusive\.", README)
    assert m, "README: no verdict summary"
    assert tuple(map(int, m.groups())) == (counts["holds"], counts["does not hold"], counts["inconclusive"])


def test_the_baselines_line_is_the_reports():
    line = next(line for line in README.splitlines() if line.startswith("ASC baseline accuracy"))
    assert line in REPORT.splitlines()


def test_every_linked_file_exists():
    links = [link for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README) if "://" not in link]
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing


def test_every_anchor_is_a_heading_of_its_file():
    def slug(heading: str) -> str:          # GitHub's: lower case, punctuation dropped, spaces to -
        return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    anchors = re.findall(r"\]\(([^)#:]+)#([^)]+)\)", README)
    assert anchors
    for link, anchor in anchors:
        headings = re.findall(r"^#+ (.+)$", (ROOT / link).read_text(), re.M)
        assert anchor in {slug(h) for h in headings}, f"{link}#{anchor}"


def test_the_python_range_is_pyprojects():
    requires = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    low, high = re.search(r"CPython (3\.\d+)-(3\.\d+)", README).groups()
    minors = range(int(low.split(".")[1]), int(high.split(".")[1]) + 1)
    assert [f"3.{m}" for m in minors] == [f"3.{m}" for m in range(8, 20) if f"3.{m}" in requires]


def test_the_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"`make (?:[A-Z]+=\S+ )*([a-z-]+)", README))
    assert {"repro", "test", "retrain"} <= targets
    for target in targets:
        assert re.search(rf"^{target}:", makefile, re.M), target
    for variable in re.findall(r"`make ([A-Z]+)=", README):
        assert re.search(rf"^{variable} \?=", makefile, re.M), variable
