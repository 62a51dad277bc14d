"""numgpt.hub against a local http.server (no network): download, cache, resume, offline message."""
from __future__ import annotations

import contextlib
import functools
import http.server
import threading

import pytest

from numgpt import hub


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves <root>/<name>/resolve/main/<file> with Range support."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.translate_path(self.path.replace("/resolve/main", ""))
        try:
            data = open(path, "rb").read()
        except OSError:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])
        self.server.requests.append((self.path, start))


@contextlib.contextmanager
def serving(root):
    """A local hub: ``root`` served by ``RangeHandler`` on a free port; ``.requests`` lists (path, start)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(root)))
    httpd.requests = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "remote"
    (root / "org" / "tiny").mkdir(parents=True)
    for f in hub.FILES:  # config.json must say its model family: resolve picks the other files by it
        (root / "org" / "tiny" / f).write_bytes(b'{"model_type": "gpt2"}' if f == "config.json" else f.encode() * 1000)
    with serving(root) as httpd:
        yield httpd, root


def test_download_cache_and_resume(tmp_path, server, monkeypatch):
    httpd, root = server
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("NUMGPT_CACHE", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / "org" / "tiny"
    cached.mkdir(parents=True)
    full = (root / "org" / "tiny" / "model.safetensors").read_bytes()
    (cached / "model.safetensors.part").write_bytes(full[:700])  # an interrupted download
    folder = hub.resolve("org/tiny", progress=None)
    assert folder == cached
    for f in hub.FILES:
        assert (folder / f).read_bytes() == (root / "org" / "tiny" / f).read_bytes()
    assert ("/org/tiny/resolve/main/model.safetensors", 700) in httpd.requests  # resumed, not restarted
    assert not list(folder.glob("*.part"))
    n = len(httpd.requests)
    assert hub.resolve("org/tiny", progress=None) == folder and len(httpd.requests) == n  # cached
    assert hub.resolve(str(folder)) == folder  # a local directory as it is


def test_offline_message_names_url_and_local_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("NUMGPT_CACHE", str(tmp_path))
    with pytest.raises(hub.HubError, match=r"http://127\.0\.0\.1:9/gpt2/resolve/main/config\.json.*--init-from PATH"):
        hub.resolve("gpt2", progress=None)
