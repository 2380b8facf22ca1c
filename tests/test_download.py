"""aetasc.data.download against a local server that cuts connections and fails on demand."""
import hashlib
import os
import socket
import zipfile

import pytest

from aetasc.data import download as dl
from aetasc.data.download import (ArchiveError, ChecksumError, DownloadError, Retry, download,
                                  safe_extract)
from fixture_server import FixtureServer

FAST = Retry(attempts=4, backoff=0.001, timeout=5.0)
DATA = os.urandom(300_000)
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture
def server():
    with FixtureServer() as s:
        s.files["/a.bin"] = DATA
        yield s


def fetch(server, dest, **kw):
    kw = {"md5": MD5, "size": len(DATA), "retry": FAST, "progress": False} | kw
    return download(f"{server.url}/a.bin", dest, **kw)


def seen(server):
    return [(r["range"], r["status"]) for r in server.requests]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_moved_file_is_followed_and_resumed_at_its_new_address(server, tmp_path, status):
    """Issue 39 item 6: Zenodo answers its legacy /record/ URLs with a redirect to /records/;
    308 (Permanent Redirect) is not followed by Python 3.10's urllib. A resume after a cut
    keeps its Range across the redirect."""
    server.files["/records/1228142/files/a.bin"] = DATA
    server.redirects["/record/1228142/files/a.bin"] = (status, "/records/1228142/files/a.bin")
    server.cut_after["/records/1228142/files/a.bin"] = 100_000
    dest = download(f"{server.url}/record/1228142/files/a.bin", tmp_path / "a.bin", md5=MD5, size=len(DATA),
                    retry=FAST, progress=False)
    assert dest.read_bytes() == DATA
    assert [(r["path"], r["range"]) for r in server.requests] == [
        ("/record/1228142/files/a.bin", None), ("/records/1228142/files/a.bin", None),
        ("/record/1228142/files/a.bin", "bytes=100000-"), ("/records/1228142/files/a.bin", "bytes=100000-")]


def test_clean_download(server, tmp_path):
    dest = fetch(server, tmp_path / "a.bin")
    assert dest.read_bytes() == DATA
    assert not (tmp_path / "a.bin.part").exists()
    assert seen(server) == [(None, 200)]


def test_verified_file_is_not_fetched_again(server, tmp_path):
    fetch(server, tmp_path / "a.bin")
    fetch(server, tmp_path / "a.bin")
    assert len(server.requests) == 1


def test_cut_transfer_resumes_with_a_range_request(server, tmp_path):
    server.cut_after["/a.bin"] = 100_000
    dest = fetch(server, tmp_path / "a.bin")
    assert dest.read_bytes() == DATA
    assert seen(server) == [(None, 200), ("bytes=100000-", 206)]


def test_part_file_from_an_earlier_run_is_resumed(server, tmp_path):
    (tmp_path / "a.bin.part").write_bytes(DATA[:12345])
    assert fetch(server, tmp_path / "a.bin").read_bytes() == DATA
    assert seen(server) == [("bytes=12345-", 206)]


def test_server_ignoring_range_restarts_from_scratch(server, tmp_path):
    server.ignore_range = True
    (tmp_path / "a.bin.part").write_bytes(b"x" * 5000)
    assert fetch(server, tmp_path / "a.bin").read_bytes() == DATA


def test_complete_part_file_answered_416_is_kept(server, tmp_path):
    # The run that received the last byte died before verifying: nothing left to fetch.
    (tmp_path / "a.bin.part").write_bytes(DATA)
    assert fetch(server, tmp_path / "a.bin", size=None).read_bytes() == DATA
    assert seen(server) == [(f"bytes={len(DATA)}-", 416)]


def test_wrong_md5_downloads_once_more_then_fails_clearly(server, tmp_path):
    with pytest.raises(ChecksumError) as err:
        fetch(server, tmp_path / "a.bin", md5="0" * 32)
    assert all(s in str(err.value) for s in ("a.bin", "0" * 32, MD5))
    assert seen(server) == [(None, 200), (None, 200)]       # the second from scratch
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "a.bin.part").exists()


def test_bad_file_under_the_final_name_is_replaced(server, tmp_path):
    (tmp_path / "a.bin").write_bytes(b"not it")
    assert fetch(server, tmp_path / "a.bin").read_bytes() == DATA


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_retried(server, tmp_path, status, monkeypatch):
    sleeps = []
    monkeypatch.setattr(dl.time, "sleep", sleeps.append)
    server.fail_with["/a.bin"] = [status, status]
    assert fetch(server, tmp_path / "a.bin").read_bytes() == DATA
    assert seen(server) == [(None, status), (None, status), (None, 200)]
    assert sleeps == [0.001, 0.002]                          # exponential back-off


def test_persistent_errors_give_up_naming_the_url(server, tmp_path):
    server.fail_with["/a.bin"] = [500] * 10
    with pytest.raises(DownloadError, match=r"/a\.bin: gave up after 4 attempts: HTTP 500"):
        fetch(server, tmp_path / "a.bin")
    assert len(server.requests) == 4


def test_client_errors_are_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/missing\.bin: HTTP 404"):
        download(f"{server.url}/missing.bin", tmp_path / "m.bin", retry=FAST, progress=False)
    assert len(server.requests) == 1


def test_unreachable_host_gives_up(tmp_path):
    with socket.socket() as s:      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port}/a.bin: gave up after 4 attempts"):
        download(f"http://127.0.0.1:{port}/a.bin", tmp_path / "a.bin", retry=FAST, progress=False)


def test_file_urls_work(tmp_path):
    (tmp_path / "src.bin").write_bytes(DATA)
    dest = download((tmp_path / "src.bin").as_uri(), tmp_path / "out" / "a.bin", md5=MD5,
                    retry=FAST, progress=False)
    assert dest.read_bytes() == DATA


def test_backoff_doubles_up_to_its_ceiling_and_honours_retry_after():
    r = Retry(backoff=1.0, max_delay=10.0)
    assert [r.delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert r.delay(1, retry_after=5.0) == 5.0
    assert r.delay(1, retry_after=600.0) == 10.0


# ------------------------------------------------------------------------------ archives

def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_safe_extract_writes_the_members(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", {"top/a.txt": b"a", "top/sub/b.txt": b"b"})
    assert safe_extract(archive, tmp_path / "t", progress=False) == 2
    assert files_under(tmp_path / "t") == ["top/a.txt", "top/sub/b.txt"]


@pytest.mark.parametrize("evil", ["../evil.txt", "top/../../evil.txt", "ABS", "C:\\evil.txt"])
def test_escaping_members_refuse_the_whole_archive(tmp_path, evil):
    if evil == "ABS":
        evil = str(tmp_path / "evil.txt")
    archive = make_zip(tmp_path / "slip.zip", {"top/fine.txt": b"ok", evil: b"pwned"})
    with pytest.raises(ArchiveError, match="refusing the whole archive"):
        safe_extract(archive, tmp_path / "t", progress=False)
    assert files_under(tmp_path / "t") == []                 # not even the fine member
    assert files_under(tmp_path) == ["slip.zip"]


def test_members_through_a_symlink_out_of_the_target_are_refused(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "t" / "link").symlink_to(tmp_path / "outside")
    archive = make_zip(tmp_path / "slip.zip", {"link/evil.txt": b"pwned"})
    with pytest.raises(ArchiveError, match="outside"):
        safe_extract(archive, tmp_path / "t", progress=False)
    assert files_under(tmp_path / "outside") == []


def test_unreadable_archive_is_named(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(ArchiveError, match="bad.zip: not a readable zip"):
        safe_extract(tmp_path / "bad.zip", tmp_path / "t", progress=False)


# Hardening: short transfers never get the final name.

def test_a_cut_without_content_length_resumes_when_the_size_is_known(server, tmp_path):
    server.no_length = True
    server.cut_after["/a.bin"] = 100_000                  # looks like the end of the file
    dest = fetch(server, tmp_path / "a.bin", md5=None)
    assert dest.read_bytes() == DATA
    assert seen(server) == [(None, 200), ("bytes=100000-", 206)]


def test_a_short_file_with_only_its_size_known_is_refused(server, tmp_path):
    server.files["/a.bin"] = DATA[:150_000]               # the server states this length
    with pytest.raises(ChecksumError, match="size mismatch: expected 300000 bytes, got 150000"):
        fetch(server, tmp_path / "a.bin", md5=None)
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "a.bin.part").exists()


def _zip_with_symlink(path, link, target, members):
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(link)
        info.external_attr = (0o120777 << 16)             # S_IFLNK
        zf.writestr(info, target)
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_symlink_member_refuses_the_archive_before_writing(tmp_path):
    archive = _zip_with_symlink(tmp_path / "link.zip", "top/link", "/etc",
                                {"top/fine.txt": b"ok", "top/link/evil.txt": b"pwned"})
    with pytest.raises(ArchiveError, match="symbolic link"):
        safe_extract(archive, tmp_path / "t", progress=False)
    assert files_under(tmp_path / "t") == []


def test_a_member_inside_a_file_member_refuses_the_archive(tmp_path):
    archive = make_zip(tmp_path / "clash.zip", {"top/a": b"a file", "top/a/b.txt": b"b"})
    with pytest.raises(ArchiveError, match="holds as a file"):
        safe_extract(archive, tmp_path / "t", progress=False)
    assert files_under(tmp_path / "t") == []


# ------------------------------------------------------- two workers, one download folder

def test_two_workers_downloading_one_file_take_turns(server, tmp_path, capsys):
    """`<name>.part` has one name, so that a rerun resumes it; two workers sharing the
    download folder both wrote and renamed it: the second took the first's transfer, and the
    first's rename then failed (FileNotFoundError), or both appended to one file. Now the
    second waits for the first (saying so), then finds the file complete."""
    import threading
    dest = tmp_path / "a.bin"
    in_check, go_on, results = threading.Event(), threading.Event(), {}

    def first_check(part):
        in_check.set()
        assert go_on.wait(30)

    def worker(name, **kw):
        try:
            results[name] = fetch(server, dest, **kw)
        except Exception as err:            # noqa: BLE001 - what the test looks for
            results[name] = err
    first = threading.Thread(target=worker, args=("first",), kwargs={"check": first_check})
    first.start()
    assert in_check.wait(30)                # the first holds a complete .part, not yet renamed
    second = threading.Thread(target=worker, args=("second",))
    second.start()
    second.join(1.0)
    assert second.is_alive()                # waiting for the first, not taking its transfer
    go_on.set()
    first.join(30)
    second.join(30)
    assert results == {"first": dest, "second": dest}
    assert dest.read_bytes() == DATA and len(server.requests) == 1
    assert f"{dest}: another process" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]      # no lock or .part left


def test_a_lock_left_by_a_dead_worker_does_not_block(server, tmp_path):
    """The lock is the file system's (flock): a worker that died holds none, whatever file
    it left behind; its .part is resumed."""
    dest = tmp_path / "a.bin"
    (tmp_path / ".a.bin.lock").write_text('{"machine": "elsewhere", "pid": 1}')
    (tmp_path / "a.bin.part").write_bytes(DATA[:1000])
    assert fetch(server, dest) == dest and dest.read_bytes() == DATA
    assert seen(server) == [("bytes=1000-", 206)]


def test_a_file_system_without_locks_says_so_and_downloads(server, tmp_path, monkeypatch, capsys):
    import errno

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(dl.fcntl, "flock", no_locks)
    assert fetch(server, tmp_path / "a.bin").read_bytes() == DATA
    assert "has no file locks (No locks available); downloading unlocked" in capsys.readouterr().err
