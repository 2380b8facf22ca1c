"""The plot stage: every figure drawn, valid, byte-identical across runs; clear failures."""
import struct
import subprocess
import sys

import pytest

from aetasc.analysis.plots import FIGURES, ZOOM, draw_fig2
from conftest import REPO, run_stage
from test_report import fabricate, make_params

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of each chunk; fails on a truncated file."""
    assert data[:8] == PNG_SIGNATURE
    chunks, pos = [], 8
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    assert pos == len(data) and chunks[-1][0] == b"IEND"
    return chunks


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The stage run twice on the same fabricated metrics."""
    root = tmp_path_factory.mktemp("plots")
    fabricate(root / "metrics")
    for out in ("a", "b"):
        run_stage(root, "plot.py", "--metrics", "metrics", "--out", out)
    return root


@pytest.mark.parametrize("png", sorted(FIGURES))
def test_each_figure_is_a_readable_png(drawn, png):
    data = (drawn / "a" / png).read_bytes()
    chunks = png_chunks(data)
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert chunks[0][0] == b"IHDR" and width >= 700 and height >= 500
    assert 10_000 < len(data) < 2_000_000
    kinds = {kind for kind, _ in chunks}
    assert b"tIME" not in kinds and not any(b"Software" in p for k, p in chunks if k in (b"tEXt", b"iTXt"))


@pytest.mark.parametrize("png", sorted(FIGURES))
def test_same_metrics_give_identical_files(drawn, png):
    assert (drawn / "a" / png).read_bytes() == (drawn / "b" / png).read_bytes()


def test_missing_metrics_file_is_named_and_nothing_drawn(tmp_path):
    fabricate(tmp_path / "metrics", skip=("fig4",))
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "plot.py"), "--metrics", "metrics", "--out", "out"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "fig4.json" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_fig2_zooms_on_the_dense_alpha_grid():
    alphas = [round(0.1 * i, 2) for i in range(9)] + [round(0.9 + 0.01 * i, 2) for i in range(11)]
    m = fabricate(params=make_params(alphas=alphas))
    fig = draw_fig2(m["fig2"], m["baselines"])
    accuracy_zoom = fig.axes[1]
    lo, hi = accuracy_zoom.get_xlim()
    assert lo < ZOOM[0] < ZOOM[1] < hi < ZOOM[1] + 0.01
    assert max(len(line.get_xdata()) for line in accuracy_zoom.lines) == len(alphas)
