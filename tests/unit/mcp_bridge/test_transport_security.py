"""DNS-rebinding protection of the HTTP MCP server, against a real server process: requests whose Host or Origin
names anything but this server (loopback names on its port, configured hosts and origins) get 403; the official
MCP client still works; a bind beyond loopback without a token gets a generated one, printed once to stderr."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})
START_TIMEOUT_S = 60.0


class Server:
    def __init__(self, process: subprocess.Popen, port: int, stdout: Path, stderr: Path):
        self.process, self.port, self.stdout, self.stderr = process, port, stdout, stderr

    def post(self, host: str | None = None, origin: str | None = None, token: str | None = None,
             body: str = INITIALIZE) -> tuple[int, str]:
        """POST an MCP initialize to /mcp over 127.0.0.1 with these Host/Origin headers; return (status, body)."""
        headers = {"Host": f"127.0.0.1:{self.port}" if host is None else host, "Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream"}
        if origin:
            headers["Origin"] = origin
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", "/mcp", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(folder: Path, *options: str, env: dict[str, str] | None = None):
    """Start ``dgx-pixels mcp --transport http`` on a free port in a subprocess; stop it afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "dgx_pixels.cli.bridge", "mcp", "--transport", "http", "--port", str(port),
               "--engine", "http://127.0.0.1:9", "--results", str(folder / "results"), *options]
    environ = {key: value for key, value in os.environ.items() if not key.startswith("DGX_PIXELS_MCP_")}
    environ.update(env or {})
    stdout, stderr = folder / "stdout.log", folder / "stderr.log"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=environ,
                                   cwd=folder)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{stderr.read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not listen within {START_TIMEOUT_S} s:\n{stderr.read_text()}")
            time.sleep(0.1)
        yield Server(process, port, stdout, stderr)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("loopback")) as server:
        yield server


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("configured"), "--allowed-host", "mcp.example.test",
                        "--allowed-host", "proxy.example.test:8443",
                        "--allowed-origin", "https://app.example.test") as server:
        yield server


def accepted(answer: tuple[int, str]) -> bool:
    status, body = answer
    return status == 200 and '"protocolVersion"' in body


def refused(answer: tuple[int, str]) -> bool:
    status, body = answer
    return status == 403 and body.startswith("Forbidden") and len(body) < 200


def test_a_rebound_name_is_refused(loopback):
    port = loopback.port
    assert refused(loopback.post(host="evil.example", origin="http://evil.example"))
    assert refused(loopback.post(host=f"evil.example:{port}", origin=f"http://evil.example:{port}"))
    assert refused(loopback.post(host=f"evil.example:{port}")), "a foreign Host without Origin (curl, scripts)"
    assert refused(loopback.post(host="")), "an empty Host"


def test_a_foreign_origin_is_refused_even_with_a_loopback_host(loopback):
    port = loopback.port
    assert refused(loopback.post(origin="http://evil.example"))
    assert refused(loopback.post(origin=f"http://evil.example:{port}"))
    assert refused(loopback.post(origin="null")), "sandboxed frames and file:// pages send Origin: null"
    assert refused(loopback.post(origin=f"http://localhost:{port + 1 if port < 65535 else port - 1}")), \
        "another local web page (another port) is another origin"


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_names_on_the_server_port_reach_mcp_and_other_ports_do_not(loopback, name):
    port = loopback.port
    assert accepted(loopback.post(host=f"{name}:{port}"))
    assert accepted(loopback.post(host=f"{name}:{port}", origin=f"http://localhost:{port}"))
    assert accepted(loopback.post(host=f"{name}:{port}", origin=f"http://{name}:{port}"))
    assert refused(loopback.post(host=f"{name}:{port}", origin="http://evil.example"))
    assert refused(loopback.post(host=f"{name}:1" if port != 1 else f"{name}:2"))


def test_configured_hosts_and_origins_are_allowed(configured):
    port = configured.port
    assert accepted(configured.post(host="mcp.example.test"))
    assert accepted(configured.post(host=f"MCP.example.test:{port}", origin=f"http://mcp.example.test:{port}"))
    assert accepted(configured.post(host="proxy.example.test:8443", origin="https://app.example.test"))
    assert accepted(configured.post(origin="https://app.example.test:443"))
    assert refused(configured.post(host="proxy.example.test:8444")), "that host is allowed on port 8443 only"
    assert refused(configured.post(host="other.example.test"))
    assert refused(configured.post(host="mcp.example.test", origin="https://evil.example"))
    assert refused(configured.post(origin="http://app.example.test")), "the configured origin is https"


def test_the_official_mcp_client_lists_tools_and_a_foreign_origin_cannot(loopback):
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    url = f"http://127.0.0.1:{loopback.port}/mcp"

    async def tools(headers: dict[str, str], statuses: list[int]) -> list[str]:
        async def record(response):
            statuses.append(response.status_code)

        async with httpx2.AsyncClient(headers=headers, timeout=30, event_hooks={"response": [record]}) as client:
            async with streamable_http_client(url, http_client=client) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return [tool.name for tool in (await session.list_tools()).tools]

    async def go():
        statuses: list[int] = []
        assert {"generate", "generate_sprite", "list_workflows"} <= set(await tools({}, statuses))
        assert 403 not in statuses
        statuses.clear()
        with pytest.raises(Exception) as refusal:  # the SDK wraps the HTTP error in task groups
            await asyncio.wait_for(tools({"Origin": "http://evil.example"}, statuses), 30)
        assert not isinstance(refusal.value, asyncio.TimeoutError), "refused at once, not a hang"
        assert statuses and set(statuses) == {403}, statuses

    asyncio.run(go())


def test_a_bind_beyond_loopback_without_a_token_gets_one_printed_once_to_stderr(tmp_path):
    with running_server(tmp_path, "--host", "0.0.0.0",
                        env={"DGX_PIXELS_MCP_ALLOWED_HOSTS": " gpu-host.test , other.test:1"}) as server:
        deadline = time.monotonic() + 10
        while "Bearer" not in server.stderr.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        tokens = re.findall(r"Bearer (\S+)", server.stderr.read_text())
        assert len(tokens) == 1 and len(tokens[0]) >= 32, server.stderr.read_text()
        token = tokens[0]
        assert server.post()[0] == 401, "requests without the token are refused"
        assert server.post(token="wrong")[0] == 401
        assert accepted(server.post(token=token))
        assert accepted(server.post(host=f"gpu-host.test:{server.port}", token=token)), "from the env variable"
        assert refused(server.post(host="evil.example", token=token)), "the Host check holds with a token too"
        assert refused(server.post(origin="http://evil.example", token=token))
        assert token not in server.stdout.read_text()


@pytest.mark.parametrize("option", [["--allowed-host", "a/b"], ["--allowed-host", "name:99999"],
                                    ["--allowed-origin", "evil.example"], ["--allowed-origin", "ftp://x.test"]])
def test_malformed_allowed_hosts_and_origins_stop_the_cli(tmp_path, option):
    command = [sys.executable, "-m", "dgx_pixels.cli.bridge", "mcp", "--transport", "http", "--port",
               str(free_port()), "--engine", "http://127.0.0.1:9", *option]
    environ = {key: value for key, value in os.environ.items() if not key.startswith("DGX_PIXELS_MCP_")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environ, cwd=tmp_path)
    assert done.returncode == 2 and re.search(r"(NAME\[:PORT\]|HOST\[:PORT\]|1 to 65535)", done.stderr), done.stderr
