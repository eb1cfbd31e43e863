"""Downloads against a loopback HTTP server: checksums, atomic rename, failures, safe untar."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import cifar_arrays, cifar_binary_bytes, idx_bytes, tar_gz

from vizlab.data import DatasetError, load, sources
from vizlab.data.download import TextProgress, extract_tar, fetch

pytestmark = pytest.mark.network


class _Server:
    """Serves ``files`` (name -> bytes). Special paths: ``drop/NAME`` announces more bytes than
    it sends and hangs up; ``slow/NAME`` waits until the test ends before answering."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                kind, _, rest = name.partition("/")
                if kind == "slow":
                    server.release.wait(10)
                    return
                body = server.files.get(rest if kind == "drop" else name)
                if body is None:
                    self.send_error(404, "no such file")
                    return
                self.send_response(200)
                extra = 1000 if kind == "drop" else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if kind == "drop" else body)
                self.close_connection = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = _Server()
    try:
        yield srv
    finally:
        srv.close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_good_file_appears_with_progress(server, tmp_path):
    server.files["a.bin"] = payload = bytes(range(256)) * 1000
    seen = []
    dest = fetch(server.url + "a.bin", tmp_path / "a.bin", md5=_md5(payload),
                 progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert dest.read_bytes() == payload
    assert seen[-1] == (len(payload), len(payload))
    assert _leftovers(tmp_path) == ["a.bin"]


def test_sha256_is_supported(server, tmp_path):
    server.files["b.bin"] = payload = b"vizlab" * 100
    fetch(server.url + "b.bin", tmp_path / "b.bin", sha256=hashlib.sha256(payload).hexdigest())
    assert (tmp_path / "b.bin").read_bytes() == payload


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.files["c.bin"] = b"corrupted contents"
    with pytest.raises(DatasetError, match=r"checksum mismatch for .*c\.bin: expected md5 0{32}"):
        fetch(server.url + "c.bin", tmp_path / "c.bin", md5="0" * 32)
    assert _leftovers(tmp_path) == []


def test_dropped_connection_leaves_nothing(server, tmp_path):
    server.files["d.bin"] = payload = b"x" * 50_000
    with pytest.raises(DatasetError, match=r"d\.bin stopped after 25000 of 51000 bytes"):
        fetch(server.url + "drop/d.bin", tmp_path / "d.bin", md5=_md5(payload))
    assert _leftovers(tmp_path) == []


def test_http_error_and_timeout(server, tmp_path):
    with pytest.raises(DatasetError, match=r"missing\.bin failed: HTTP 404"):
        fetch(server.url + "missing.bin", tmp_path / "missing.bin")
    with pytest.raises(DatasetError, match=r"slow/e\.bin failed: .*timed out"):
        fetch(server.url + "slow/e.bin", tmp_path / "e.bin", timeout=0.3)
    assert _leftovers(tmp_path) == []


def test_text_progress_line():
    stream = io.StringIO()
    bar = TextProgress("train.gz", stream=stream)
    bar(500_000, 2_000_000)
    bar(2_000_000, 2_000_000)
    text = stream.getvalue()
    assert text.startswith("\rtrain.gz:  25.0%  0.5/2.0 MB")
    assert text.endswith("100.0%  2.0/2.0 MB\n")


def _serve_mnist(server, monkeypatch, *, corrupt: str | None = None) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 20, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    checksums = {}
    for stem, array in arrays.items():
        body = gzip.compress(idx_bytes(array))
        checksums[f"{stem}.gz"] = _md5(body)
        server.files[f"{stem}.gz"] = b"garbage" if stem == corrupt else body
    monkeypatch.setitem(sources.MIRRORS, "mnist", [server.url])
    monkeypatch.setitem(sources.CHECKSUMS, "mnist", checksums)
    monkeypatch.delenv("VIZLAB_MIRROR", raising=False)
    return arrays


def test_load_downloads_mnist(server, tmp_path, monkeypatch, capsys):
    arrays = _serve_mnist(server, monkeypatch)
    data = load("mnist", root=tmp_path, download=True, val_fraction=0.0)
    assert _leftovers(tmp_path / "mnist") == sorted(f"{s}.gz" for s in arrays)
    assert np.array_equal(data.test.y.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert "100.0%" in capsys.readouterr().err  # the default progress bar went to stderr
    # A second call finds the files and downloads nothing.
    server.files.clear()
    assert len(load("mnist", root=tmp_path, download=True).test) == 5


def test_load_download_with_corrupt_file(server, tmp_path, monkeypatch):
    _serve_mnist(server, monkeypatch, corrupt="t10k-images-idx3-ubyte")
    with pytest.raises(DatasetError, match=r"(?s)t10k-images-idx3-ubyte\.gz.*checksum mismatch"):
        load("mnist", root=tmp_path, download=True)
    assert "t10k-images-idx3-ubyte.gz" not in _leftovers(tmp_path)
    assert not [n for n in _leftovers(tmp_path) if n.endswith(".part")]


def test_mirror_from_environment(server, tmp_path, monkeypatch):
    _serve_mnist(server, monkeypatch)
    monkeypatch.setitem(sources.MIRRORS, "mnist", ["http://127.0.0.1:9/unused/"])
    monkeypatch.setenv("VIZLAB_MIRROR", server.url)
    assert len(load("mnist", root=tmp_path, download=True).train) > 0


def test_load_downloads_and_unpacks_cifar(server, tmp_path, monkeypatch):
    members = {"cifar-10-batches-bin/batches.meta.txt": b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"}
    for stem in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        members[f"cifar-10-batches-bin/{stem}.bin"] = cifar_binary_bytes(*cifar_arrays(4, 7))
    archive = tar_gz(members)
    server.files["cifar-10-binary.tar.gz"] = archive
    monkeypatch.setitem(sources.MIRRORS, "cifar10", [server.url])
    monkeypatch.setitem(sources.CHECKSUMS, "cifar10", {"cifar-10-binary.tar.gz": _md5(archive)})
    data = load("cifar10", root=tmp_path, download=True, val_fraction=0.0)
    assert len(data.train) == 20 and data.classes[:2] == ["a", "b"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _tar_with(member: tarfile.TarInfo, content: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(member, io.BytesIO(content) if content else None)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_unsafe_archive_members_are_refused(tmp_path, kind):
    target = tmp_path / "target"
    if kind == "symlink":
        info = tarfile.TarInfo("cifar-10-batches-bin/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        content = b""
    else:
        name = "../escaped.txt" if kind == "dotdot" else str(tmp_path / "escaped.txt")
        info, content = tarfile.TarInfo(name), b"owned"
        info.size = len(content)
    archive = tmp_path / "bad.tar"
    archive.write_bytes(_tar_with(info, content))
    with pytest.raises(DatasetError, match=r"bad\.tar: member .* (outside the target|is a link)"):
        extract_tar(archive, target)
    assert not (tmp_path / "escaped.txt").exists()
    assert _leftovers(target) == []
