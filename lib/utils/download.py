"""Downloads for the scripts/download_*.py: fetch a URL, verify it, unpack it safely, place it atomically.

* `fetch` streams into `<file>.part` (resumed with an HTTP Range request when the server supports it), checks
  the byte count against Content-Length, and only then renames it to `<file>`: the final name never holds a
  partial file. A broken transfer keeps the `.part` for the next run to resume.
* `unpack` refuses an archive with an absolute, `..`-escaping, link or device member before writing anything
  and extracts into a hidden staging folder inside the target (a damaged archive fails there); a new folder is
  then moved into place by one rename, an existing one gets the files one rename each.
* `install` chains both for an `Item` (what the original's download scripts did with curl + tar, plus checks)
  and runs the item's `after` step (e.g. a sha1 check and a conversion); `main` is the command line shared by
  the download scripts. Every failure is one line: `DownloadError`.
"""
import argparse
import hashlib
import http.client
import logging
import os
import shutil
import stat
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Tuple

log = logging.getLogger(__name__)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join("data", "cache", "downloads")  # archives while they download (relative to the root)
USER_AGENT = "SNIPER-port-downloader (python urllib)"
CHUNK = 1 << 20
NETWORK_ERRORS = (OSError, http.client.HTTPException)  # OSError covers URLError, timeouts, refused connections


class DownloadError(Exception):
    """A download, check or unpack that failed; the message is one line naming the URL or file."""


def sha1_of(path):
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _open(url, offset, timeout):
    """The HTTP response for `url` from byte `offset` on (a Range request when offset > 0)."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = "bytes=%d-" % offset
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the .part is not a prefix the server can continue: start over
            return None
        raise DownloadError("could not download %s: HTTP %d %s" % (url, err.code, err.reason)) from None
    except NETWORK_ERRORS as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError("could not download %s: %s (no network?)" % (url, reason)) from None


def fetch(url, dest, *, timeout=60, progress=True):
    """Download `url` to `dest` unless `dest` exists. Returns `dest`."""
    if os.path.exists(dest):
        return dest
    part = dest + ".part"
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    response = _open(url, offset, timeout)
    if response is None:
        os.remove(part)
        offset, response = 0, _open(url, 0, timeout)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    log.info("downloading %s -> %s", url, dest)
    with response:
        if offset and response.status != 206:
            offset = 0  # the server ignored the Range header: it sends the whole file again
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        _stream(response, part, offset, total, url, progress)
    size = os.path.getsize(part)
    if total is not None and size != total:
        raise DownloadError("download of %s stopped at %d of %d bytes: rerun to resume %s" % (url, size, total, part))
    os.replace(part, dest)
    return dest


def _stream(response, part, offset, total, url, progress):
    """Append the response body to `part` (truncated first when offset is 0), with a progress bar."""
    from tqdm import tqdm
    with open(part, "ab" if offset else "wb") as out, \
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                 desc=os.path.basename(part[:-len(".part")]), disable=not progress, leave=False) as bar:
        try:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))
        except NETWORK_ERRORS as err:
            out.flush()
            raise DownloadError("download of %s broke after %d bytes (%s): rerun to resume %s"
                                % (url, out.tell(), type(err).__name__, part)) from None


def _check_name(name, target):
    """The member's path inside `target`; DownloadError for an absolute or escaping name."""
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        raise DownloadError("refused archive member %r: absolute path" % name)
    final = os.path.realpath(os.path.join(target, name))
    if os.path.commonpath([final, os.path.realpath(target)]) != os.path.realpath(target):
        raise DownloadError("refused archive member %r: it would land outside %s" % (name, target))
    return final


def _members(archive, handle, target):
    """Check every member before anything is written; returns the names of the regular files."""
    files = []
    if isinstance(handle, zipfile.ZipFile):
        for info in handle.infolist():
            _check_name(info.filename, target)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DownloadError("refused archive member %r of %s: a link" % (info.filename, archive))
            if not info.is_dir():
                files.append(info.filename)
        return files
    for member in handle.getmembers():
        _check_name(member.name, target)
        if not (member.isfile() or member.isdir()):
            raise DownloadError("refused archive member %r of %s: a link or device" % (member.name, archive))
        if member.isfile():
            files.append(member.name)
    return files


def _open_archive(archive):
    if zipfile.is_zipfile(archive):
        return zipfile.ZipFile(archive)
    return tarfile.open(archive, "r:*")


def _place(src, dst):
    """Move `src` to `dst`: one rename when `dst` is absent (a new folder appears whole), else merged file by file."""
    if os.path.isdir(src) and os.path.isdir(dst):
        for name in os.listdir(src):
            _place(os.path.join(src, name), os.path.join(dst, name))
    else:
        os.replace(src, dst)


def unpack(archive, target):
    """Unpack a zip or (compressed) tar `archive` into `target`. Returns the relative paths of the files placed.

    A top-level entry new to `target` is moved in by one rename; into an existing folder, files of the same
    names are replaced and the others left alone.
    """
    os.makedirs(target, exist_ok=True)
    staging = os.path.join(target, ".unpacking-" + os.path.basename(archive))
    shutil.rmtree(staging, ignore_errors=True)  # left by a run killed while unpacking
    try:
        with _open_archive(archive) as handle:
            files = _members(archive, handle, target)
            if isinstance(handle, zipfile.ZipFile):
                handle.extractall(staging)
            else:  # the "data" filter (Python >= 3.11.4) re-checks names and modes as tar extracts
                handle.extractall(staging, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        for entry in os.listdir(staging):
            _place(os.path.join(staging, entry), os.path.join(target, entry))
        return [os.path.normpath(name) for name in files]
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise DownloadError("archive %s is damaged (%s): delete it and rerun" % (archive, err)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass
class Item:
    """One download: `url` saved as `archive`, unpacked into `dest` (relative to the script's destination
    folder), which then holds `expect` (paths relative to `dest`)."""
    name: str
    url: str
    archive: str
    dest: str
    expect: Tuple[str, ...] = ()
    note: str = ""
    after: object = field(default=None, repr=False)  # after(item, dest folder): extra placing (e.g. conversion)


def installed(item, base):
    dest = os.path.join(base, item.dest)
    return bool(item.expect) and all(os.path.exists(os.path.join(dest, p)) for p in item.expect)


def install(item, *, base, cache=os.path.join(ROOT, CACHE), url=None, keep_archive=False, progress=True):
    """Download, check and place one item under the folder `base`; returns its destination folder."""
    dest = os.path.normpath(os.path.join(base, item.dest))
    url = url or item.url
    archive = fetch(url, os.path.join(cache, item.archive), progress=progress)
    placed = unpack(archive, dest)
    log.info("%s: %d files placed in %s", item.name, len(placed), dest)
    if not keep_archive:
        os.remove(archive)  # the original's scripts delete the archive after extracting it
    if item.after is not None:
        item.after(item, dest)
    missing = [p for p in item.expect if not os.path.exists(os.path.join(dest, p))]
    if missing:
        log.warning("%s: %s did not bring %s (its content could not be checked when this script was written)",
                    item.name, url, ", ".join(missing))
    return dest


def main(items, defaults, description, base, argv=None):
    """Command line of a download script: `[NAME ...] [--dest DIR] [--url URL] [--force] [--keep-archive]`.

    items: {name: Item}; defaults: the names downloaded without NAME arguments; base: the default destination,
    relative to the repository root. Exit 1 on a failed download (one line), 2 on bad arguments.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help="what to download: %s (default: %s)"
                        % (", ".join(items), " ".join(defaults)))
    parser.add_argument("--dest", default=os.path.join(ROOT, base), help="destination (default: %s)" % base)
    parser.add_argument("--cache", default=os.path.join(ROOT, CACHE), help="archives while they download "
                        "(default: %s)" % CACHE)
    parser.add_argument("--url", default=None, help="download from this URL instead (one NAME only; a mirror)")
    parser.add_argument("--force", action="store_true", help="download again even when already installed")
    parser.add_argument("--keep-archive", action="store_true", help="keep the archive in the cache folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    names = args.names or list(defaults)
    unknown = [n for n in names if n not in items]
    if unknown:
        parser.error("unknown NAME %s (choose from %s)" % (", ".join(unknown), ", ".join(items)))
    if args.url and len(names) != 1:
        parser.error("--url needs exactly one NAME (given: %s)" % " ".join(names))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for name in names:
        item = items[name]
        if installed(item, args.dest) and not args.force:
            log.info("%s: already in %s (--force downloads it again)", name, os.path.join(args.dest, item.dest))
            continue
        try:
            install(item, base=args.dest, cache=args.cache, url=args.url, keep_archive=args.keep_archive,
                    progress=not args.no_progress)
        except DownloadError as err:
            sys.stderr.write("error: %s\n" % err)
            sys.exit(1)
        if item.note:
            log.info("%s: %s", name, item.note)
