"""AudioSet's tables as people pass them around: cut short, edited in spreadsheets, merged.
Every damaged row is refused naming its file and line; nothing is silently dropped."""
import os
from pathlib import Path

import pytest

from aetasc.config import PaperSources
from aetasc.data import audioset_source
from aetasc.data.audioset import (CLASS_TABLE, SPLITS, EventClass, Segment, check_splits,
                                  read_audioset, read_class_labels, read_segments_csv,
                                  write_class_labels, write_segments_csv)
from aetasc.data.audioset_source import acquire_audioset
from aetasc.data.tut2018 import LayoutError
from test_paper_world import YTIDS, make_audioset_tables, make_clips_dir, sources, write_wav

# The official metadata (class table and segment CSVs), where a machine has it: the checks
# must pass on the real tables, not only on fixtures.
REFERENCE = Path(os.environ.get("AUDIOSET_METADATA", "/nonexistent"))
HEADER = ("# Segments csv created Sun Mar  5 10:54:25 2017\n"
          "# num_ytids={n}, num_segs={n}, num_unique_labels=2, num_positive_labels={n}\n"
          "# YTID, start_seconds, end_seconds, positive_labels\n")
GOOD = '--4gqARaEJE, 0.000, 10.000, "/m/09x0r,/m/04rlf"\n'


def csv_file(tmp_path, *rows, n=None):
    path = tmp_path / "segments.csv"
    path.write_text(HEADER.format(n=len(rows) if n is None else n) + "".join(rows))
    return path


@pytest.mark.parametrize("row, fragment", [
    ('-0BIyqJj9ZU, nan, 10.000, "/m/09x0r"\n', "must be finite"),
    ('-0BIyqJj9ZU, 0.000, inf, "/m/09x0r"\n', "must be finite"),
    ('-0BIyqJj9ZU, -5.000, 5.000, "/m/09x0r"\n', "0 <= start < end <= start + 10 s"),
    ('-0BIyqJj9ZU, 0.000, 1e9, "/m/09x0r"\n', "0 <= start < end <= start + 10 s"),
    ('-0BIyqJj9ZU, 30.000, 20.000, "/m/09x0r"\n', "0 <= start < end"),
    ('=HYPERLINK("https://youtu.be/x"), 0.000, 10.000, "/m/09x0r"\n', "not an 11-character YouTube id"),
    ("#NAME?, 0.000, 10.000, \"/m/09x0r\"\n", "a '#' line after the header"),
    ("-0BIyqJj9ZU, 0.000, 10.000, /m/09x0r,/m/04rlf\n", "the quotes around the labels lost?"),
    ('-0BIyqJj9ZU, 0.000, 10.000, "/m/09x0r",,\n', "trailing empty fields"),
    ('-0BIyqJj9ZU, 0.000, 10.000, "Speech"\n', "ontology ids"),
    ('4.5E+10, 0.000, 10.000, "/m/09x0r"\n', "not an 11-character YouTube id"),
])
def test_a_damaged_row_is_refused_naming_its_line(tmp_path, row, fragment):
    path = csv_file(tmp_path, GOOD, row)
    with pytest.raises(LayoutError) as err:
        read_segments_csv(path)
    assert f"{path}:5:" in str(err.value) and fragment in str(err.value)


def test_a_table_cut_at_a_line_break_is_not_a_smaller_table(tmp_path):
    path = csv_file(tmp_path, GOOD, GOOD.replace("--4gqARaEJE", "-0BIyqJj9ZU"), n=40)
    with pytest.raises(LayoutError, match="holds 2 segments, its header says num_segs=40"):
        read_segments_csv(path)


def test_an_id_twice_in_a_split_names_both_lines(tmp_path):
    path = csv_file(tmp_path, GOOD, GOOD.replace("--4gqARaEJE", "-0BIyqJj9ZU"), GOOD)
    with pytest.raises(LayoutError, match=r":6: --4gqARaEJE is listed twice \(first on line 4\)"):
        read_segments_csv(path)


def test_a_clip_in_two_splits_is_refused(tmp_path):
    a = Segment("--4gqARaEJE", 0.0, 10.0, ("/m/a",))
    classes = [EventClass(0, "/m/a", "A")]
    with pytest.raises(LayoutError, match="--4gqARaEJE is in both"):
        check_splits({"eval": [a], "unbalanced_train": [a]}, classes, tmp_path)


def test_a_class_listed_twice_is_refused(tmp_path):
    write_class_labels(tmp_path / CLASS_TABLE, [EventClass(0, "/m/a", "A"), EventClass(1, "/m/b", "B"),
                                                EventClass(2, "/m/a", "A again")])
    with pytest.raises(LayoutError, match=r":4: class /m/a is listed twice \(first on line 2\)"):
        read_class_labels(tmp_path / CLASS_TABLE)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="AUDIOSET_METADATA does not name a folder of the official AudioSet CSVs")
def test_the_real_audioset_metadata_passes_every_check():
    classes = read_class_labels(REFERENCE / CLASS_TABLE)
    segments = {split: read_segments_csv(REFERENCE / name) for split, name in SPLITS.items()}
    check_splits(segments, classes, REFERENCE)
    assert len(classes) == 527
    assert {s: len(v) for s, v in segments.items()} == {"balanced_train": 22160, "unbalanced_train": 65497,
                                                       "eval": 20061}


# ------------------------------------------------------------------------- acquisition

def local_sources(tmp_path, tables, **overrides) -> PaperSources:
    return sources(tmp_path, audioset_csv_url=tables.as_uri(),
                   audioset_ontology_url=(tables / "ontology.json").as_uri(), **overrides)


def test_an_unknown_label_stops_acquisition_before_any_clip_is_gathered(tmp_path, monkeypatch):
    tables = make_audioset_tables(tmp_path / "tables")
    segs = read_segments_csv(tables / SPLITS["eval"])
    segs[0] = Segment(segs[0].ytid, segs[0].start, segs[0].end, ("/m/unknown",))
    write_segments_csv(tables / SPLITS["eval"], segs)
    monkeypatch.setattr(audioset_source, "_gather_clips", lambda *a, **k: pytest.fail("gathered clips first"))
    with pytest.raises(LayoutError, match="labels not in class_labels_indices.csv: /m/unknown"):
        acquire_audioset(local_sources(tmp_path, tables, audioset_clips_dir=str(make_clips_dir(tmp_path / "c"))),
                         tmp_path / "aet", progress=False)
    assert not (tmp_path / "aet").exists()


def test_a_damaged_table_is_deleted_not_reused(tmp_path):
    tables = make_audioset_tables(tmp_path / "tables")
    name = SPLITS["unbalanced_train"]
    good = (tables / name).read_text()
    (tables / name).write_text(good.rsplit("\n", 3)[0] + "\n")          # cut at a line break
    src = local_sources(tmp_path, tables, audioset_clips_dir=str(make_clips_dir(tmp_path / "c")))
    with pytest.raises(LayoutError, match="num_segs=5"):
        acquire_audioset(src, tmp_path / "aet", progress=False)
    assert not (tmp_path / "downloads" / "audioset" / name).exists()
    (tables / name).write_text(good)                                     # the source is fixed
    acquire_audioset(src, tmp_path / "aet", progress=False)
    assert len(read_audioset(tmp_path / "aet").listed["unbalanced_train"]) == 5     # pending, whole


def test_a_corrupt_flac_does_not_hide_a_good_wav(tmp_path):
    tables = make_audioset_tables(tmp_path / "tables")
    clips = make_clips_dir(tmp_path / "c")
    ytid = YTIDS["eval"][2]                                             # missing in make_clips_dir
    (clips / "eval" / f"{ytid}.flac").write_bytes(b"fLaC but nothing after")
    write_wav(clips / "eval" / f"{ytid}.wav", seconds=10.0, sr=32000, channels=1, subtype="PCM_16")
    acquire_audioset(local_sources(tmp_path, tables, audioset_clips_dir=str(clips)), tmp_path / "aet",
                     progress=False)
    layout = read_audioset(tmp_path / "aet")
    assert layout.paths[ytid] == f"audio/{ytid}.wav"


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_tables_not_in_utf8_name_the_file_and_say_to_save_as_utf8(tmp_path, encoding):
    """Issue 38 case 10: a segment list or class table saved by Excel as "Unicode text"
    (UTF-16) or in cp1252 is refused naming the file, not with a bare UnicodeDecodeError."""
    path = csv_file(tmp_path, GOOD)
    path.write_bytes(path.read_text().encode(encoding) + "# caf\u00e9\n".encode(encoding))
    with pytest.raises(LayoutError, match=r"segments\.csv: not UTF-8.*save it as UTF-8"):
        read_segments_csv(path)
    table = tmp_path / CLASS_TABLE
    table.write_bytes('index,mid,display_name\n0,/m/09x0r,"Caf\u00e9"\n'.encode(encoding))
    with pytest.raises(LayoutError, match=rf"{CLASS_TABLE}: not UTF-8.*save it as UTF-8"):
        read_class_labels(table)
