"""Fetch dataset files over HTTP(S): progress on stderr, checksum, atomic rename, safe untar.

The rules that keep a data folder trustworthy:

* bytes go to a temporary file next to the destination, and only a file whose checksum
  matches the published one is renamed into place (``os.replace`` is atomic within a folder),
  so an interrupted or corrupted download never leaves a plausible-looking file behind;
* every failure (HTTP error, refused or dropped connection, timeout, short body, wrong
  checksum) becomes a ``DatasetError`` that says what failed and how to fetch by hand;
* archives are unpacked only after every member was checked to be a plain file or folder
  inside the target, and with tarfile's ``"data"`` filter where Python provides it.

Only the standard library (``urllib``) is used, so there is no extra dependency.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from vizlab.data.dataset import DatasetError

__all__ = ["Progress", "TextProgress", "fetch", "fetch_from_mirrors", "extract_tar", "md5sum"]

#: ``progress(done_bytes, total_bytes_or_None)``, called as the download advances.
Progress = Callable[[int, "int | None"], None]

TIMEOUT = 30.0  # seconds a connect or a single read may stall before we give up
_BLOCK = 1 << 16


class TextProgress:
    """A one-line progress bar on stderr, redrawn with ``\\r`` at most ten times a second."""

    def __init__(self, label: str, stream=None) -> None:
        self.label, self.stream, self._last = label, stream or sys.stderr, 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - self._last < 0.1 and not finished:
            return
        self._last = now
        mb = f"{done / 1e6:.1f}"
        if total:
            text = f"\r{self.label}: {100 * done / total:5.1f}%  {mb}/{total / 1e6:.1f} MB"
        else:
            text = f"\r{self.label}: {mb} MB"
        self.stream.write(text + ("\n" if finished else ""))
        self.stream.flush()


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    url: str,
    dest: Path,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    progress: Progress | None = None,
    timeout: float = TIMEOUT,
) -> Path:
    """Download ``url`` to ``dest``, verify it, then move it into place atomically.

    Raises:
        DatasetError: the request failed, the body was shorter than announced, or the
            checksum did not match. No file (temporary or final) is left behind.
    """
    dest = Path(dest)
    if not url.startswith(("http://", "https://", "file://")):
        raise DatasetError(f"refusing to download {url}: only http, https and file URLs")
    dest.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256() if sha256 else hashlib.md5(usedforsecurity=False)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "vizlab"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                done = 0
                while block := response.read(_BLOCK):
                    out.write(block)
                    hasher.update(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
            # http.client does not complain when a server closes early; count ourselves.
            if total is not None and done != total:
                raise DatasetError(
                    f"download of {url} stopped after {done} of {total} bytes "
                    "(the connection was dropped)"
                )
            out.flush()
            os.fsync(out.fileno())
        expected = (sha256 or md5 or "").lower()
        if expected and hasher.hexdigest() != expected:
            kind = "sha256" if sha256 else "md5"
            raise DatasetError(
                f"checksum mismatch for {url}: expected {kind} {expected}, got "
                f"{hasher.hexdigest()}; the download is corrupt or not the official file"
            )
        os.replace(tmp, dest)
        return dest
    except DatasetError:
        raise
    except urllib.error.HTTPError as err:
        raise DatasetError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise DatasetError(f"download of {url} failed: {reason!r}") from None
    finally:
        tmp.unlink(missing_ok=True)


def fetch_from_mirrors(
    filename: str,
    bases: list[str],
    folder: Path,
    *,
    md5: str | None,
    help_text: str,
    progress: Progress | None = None,
    timeout: float = TIMEOUT,
) -> Path:
    """Try each base URL in turn for ``filename``; the first verified copy wins.

    Raises:
        DatasetError: every mirror failed; the message lists each failure and ``help_text``.
    """
    failures = []
    for base in bases:
        try:
            report = progress or TextProgress(filename)
            return fetch(base + filename, folder / filename, md5=md5, progress=report,
                         timeout=timeout)  # fmt: skip
        except DatasetError as err:
            failures.append(str(err))
    raise DatasetError(
        f"could not download {filename}:\n  " + "\n  ".join(failures) + f"\n{help_text}"
    )


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or member.name.startswith(("/", "\\")):
        raise DatasetError(f"{archive}: member {member.name!r} would land outside the target")
    if not (member.isfile() or member.isdir()):
        raise DatasetError(
            f"{archive}: member {member.name!r} is a link or device; only plain files allowed"
        )


def extract_tar(archive: Path, target: Path) -> list[Path]:
    """Unpack a (possibly compressed) tar archive into ``target``, safely.

    Members are unpacked into a temporary folder inside ``target`` and then moved into place
    file by file, so a failure halfway leaves no partial dataset folder behind.

    Returns:
        The paths of the extracted files.

    Raises:
        DatasetError: the archive is unreadable, or a member is absolute, climbs out with
            ``..``, or is a link or device.
    """
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target, prefix=".extract-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, archive)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, members=members, filter="data")
            else:  # Python without extraction filters; members were checked above
                tar.extractall(staging, members=members)
        moved = []
        for member in members:
            if member.isfile():
                dest = target / member.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / member.name, dest)
                moved.append(dest)
        return moved
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DatasetError(f"could not unpack {archive}: {err}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
