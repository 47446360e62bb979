"""`python -m pipelines submit` against a real HTTP server speaking the KFP v2beta1 REST API.

The real kfp.Client (kfp 2.17.0) sends the requests; the server on 127.0.0.1 records them, so
the test sees what a multi-user Kubeflow endpoint would receive: the bearer token or session
cookie, the profile namespace, the service account and the typed arguments.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.runner import compile_pipeline


class _KfpApi(BaseHTTPRequestHandler):
    """The three endpoints create_run_from_pipeline_package calls (sdk/python/kfp/client)."""

    requests: list[dict] = []

    def _reply(self, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(size)) if size else None
        self.requests.append({"method": self.command, "path": self.path, "body": body,
                              "authorization": self.headers.get("authorization"),
                              "cookie": self.headers.get("cookie")})
        if self.path.startswith("/apis/v2beta1/healthz"):
            self._reply({"multi_user": True})
        elif self.path.startswith("/apis/v2beta1/experiments") and self.command == "GET":
            self._reply({"experiments": [{"experiment_id": "e-1", "display_name": "automl"}],
                         "total_size": 1})
        elif self.path.startswith("/apis/v2beta1/runs") and self.command == "POST":
            self._reply({"run_id": "1234-abcd"})
        else:
            self.send_error(404)

    do_GET = do_POST = _handle

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture()
def kfp_api() -> Iterator[tuple[str, list[dict]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KfpApi)
    _KfpApi.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", _KfpApi.requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    return compile_pipeline(tmp_path_factory.mktemp("pkg") / "automl.yaml")


def test_submit_sends_token_namespace_service_account_and_typed_params(kfp_api, package,
                                                                      tmp_path, capsys):
    host, requests = kfp_api
    token = tmp_path / "token"
    token.write_text("eyJhbGciOi.tok\n")
    assert main(["submit", "--host", host + "/", "--experiment", "automl",
                 "--namespace", "alice", "--service-account", "default-editor",
                 "--token-file", str(token), "--package", str(package),
                 "--param", "train_epochs=5", "--param", "backend=katib"]) == 0
    assert f"run URL: {host}/#/runs/details/1234-abcd" in capsys.readouterr().out
    assert requests and all(r["authorization"] == "Bearer eyJhbGciOi.tok" for r in requests)
    lookup = next(r for r in requests if r["path"].startswith("/apis/v2beta1/experiments"))
    assert "namespace=alice" in lookup["path"]
    run = next(r for r in requests if r["method"] == "POST")["body"]
    assert run["experiment_id"] == "e-1" and run["service_account"] == "default-editor"
    assert run["runtime_config"]["parameters"] == {"train_epochs": 5, "backend": "katib"}
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "nac-automl"


def test_submit_sends_the_session_cookie(kfp_api, package, tmp_path):
    host, requests = kfp_api
    cookie = tmp_path / "cookie"
    cookie.write_text("oauth2_proxy_kubeflow=abc123")
    assert main(["submit", "--host", host, "--experiment", "automl", "--namespace", "bob",
                 "--cookie-file", str(cookie), "--package", str(package)]) == 0
    assert requests and all(r["cookie"] == "oauth2_proxy_kubeflow=abc123" for r in requests)
    assert all(r["authorization"] is None for r in requests)


@pytest.mark.parametrize("flags, message", [
    (["--token-file", "{missing}"], "--token-file {missing}: cannot read it"),
    (["--token-file", "{empty}"], "--token-file {empty} is empty"),
    (["--token-file", "{empty}", "--sa-token-file", "{empty}"], "give one of --token-file"),
])
def test_bad_credentials_are_refused_before_any_request(kfp_api, package, tmp_path, capsys,
                                                        flags, message):
    host, requests = kfp_api
    (tmp_path / "empty").write_text("  \n")
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty"}
    flags = [f.format(**paths) for f in flags]
    assert main(["submit", "--host", host, "--package", str(package), *flags]) == 2
    assert message.format(**paths) in capsys.readouterr().err
    assert requests == []
