"""The other fronts of the warm rows: nginx in front of the emulator (the `· nginx` rows,
and the bare-hop server), and cargo-lambda's emulator with one `floor` process (the
`· cargo-lambda` rows)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from conftest import free_port, free_ports, stop_server
from render_nginx import render, self_signed_certificate  # local/render_nginx.py
from .config import CARGO_LAMBDA, FLOOR_PATH, HTTP_TIMEOUT, NGINX_TEMPLATE, ROOT, START_TIMEOUT, STOP_TIMEOUT
from .runlog import BenchError, tail
from .runtime_api import lambda_env, start_function
from .workspace import tool_version


class Nginx:
    """nginx serving the project's server blocks (local/nginx/briefthreat.conf.template,
    rendered by local/render_nginx.py) in front of the emulator: HTTPS on a free loopback
    port with a throwaway self-signed certificate; its nginx.conf, pid, temp paths and
    certificate in a temp dir, its error log beside the other logs of the run."""

    def __init__(self, upstream: str, logfile: Path):
        self.binary = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.path.exists(p)), None)
        if not self.binary:
            raise BenchError("nginx not found: apt-get install nginx (make bench does)")
        self.dir = Path(tempfile.mkdtemp(prefix="bt-bench-nginx-"))
        self.dir.chmod(0o755)  # workers run as another user when we are root (temp paths below)
        self.logfile = logfile
        certs = self.dir / "certs"
        certs.mkdir()
        self.cert = self_signed_certificate(certs)
        self.http_port, self.https_port, self.hop_port = free_ports(3)
        self.base = f"https://127.0.0.1:{self.https_port}"
        # The bare HTTP hop: a plain-HTTP server that answers by itself (what any HTTP front
        # costs a client on loopback, the part of the floor rows no emulator can avoid).
        self.hop_base = f"http://127.0.0.1:{self.hop_port}"
        (self.dir / "briefthreat.conf").write_text(self._server_blocks(upstream, certs), encoding="utf-8")
        self._write_nginx_conf()
        self.version = tool_version([self.binary, "-v"]).split("/")[-1]
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-p", str(self.dir), "-e", str(logfile), "-c", str(self.dir / "nginx.conf"),
                 "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._wait_for_health()

    def _server_blocks(self, upstream: str, certs: Path) -> str:
        """The project's template, rendered, with the floor proxied too: it is no contract
        path (the template answers it with the 404 page), so one more location at the end of
        the HTTPS server block, proxied like the contract's paths."""
        server_blocks = render(NGINX_TEMPLATE.read_text(encoding="utf-8"), {
            "NGINX_HOST": "localhost",
            "NGINX_HTTP_PORT": str(self.http_port),
            "NGINX_HTTPS_PORT": str(self.https_port),
            "SSL_CERT_DIR": str(certs),
            "API_UPSTREAM": upstream,
        })
        head, end = server_blocks.rsplit("}", 1)
        floor = f"    location = {FLOOR_PATH} {{ proxy_pass http://briefthreat_api{FLOOR_PATH}; }}\n"
        return f"{head}{floor}}}{end}"

    def _write_nginx_conf(self) -> None:
        """One worker (2 shared cores, and it is far from busy); no access log (disk noise);
        the temp paths in the temp dir, writable by the workers; the bare-hop server."""
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(mode=0o777)
            (self.dir / sub).chmod(0o777)
        (self.dir / "nginx.conf").write_text(f"""
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.logfile} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    include {self.dir}/briefthreat.conf;
    server {{ listen 127.0.0.1:{self.hop_port}; location / {{ return 200 "ok"; }} }}
}}
""", encoding="utf-8")

    def _wait_for_health(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"nginx exited {self.proc.returncode}:\n{tail(self.logfile)}")
            try:
                resp = requests.get(self.base + "/health", timeout=HTTP_TIMEOUT, verify=str(self.cert))
                if resp.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"GET {self.base}/health through nginx: no 200 within 30 s:\n{tail(self.logfile)}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class CargoLambda:
    """cargo-lambda 1.9.2's emulator, as the removed local/serve_functions.py ran it for
    self-hosting: `cargo lambda watch --only-lambda-apis` (its HTTP router, reading the same
    route table, and its Runtime API; nothing compiled) and ONE release `floor` process
    started here against its Runtime API (`/.rt/floor`). Only GET /bench/floor is served."""

    def __init__(self, env: dict, logfile: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logfile = logfile
        self.floor = None
        # cargo-lambda reads RUST_LOG too (and logs its configuration at info).
        server_env = {k: v for k, v in env.items() if k != "RUST_LOG"}
        server_env.setdefault("CARGO_NET_OFFLINE", "true")  # `cargo metadata` only; no fetching
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(
                [str(CARGO_LAMBDA), "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(self.port)],
                cwd=ROOT, env=server_env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            self._wait_for_listener(deadline)
            self._start_floor(env)
            self._wait_for_floor(deadline)
        except BaseException:
            self.stop()
            raise

    def _wait_for_listener(self, deadline: float) -> None:
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"cargo lambda watch --only-lambda-apis did not listen:\n{tail(self.logfile)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)

    def _start_floor(self, env: dict) -> None:
        floor_env = lambda_env(env, "floor", f"http://127.0.0.1:{self.port}/.rt/floor")
        self.floor, _ = start_function("floor", floor_env, self.logfile)

    def _wait_for_floor(self, deadline: float) -> None:
        while True:
            if self.floor.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"GET {self.base}{FLOOR_PATH}: no 200 from cargo-lambda:\n{tail(self.logfile)}")
            try:
                if requests.get(self.base + FLOOR_PATH, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)

    def stop(self) -> None:
        if self.floor is not None and self.floor.poll() is None:
            self.floor.kill()
            self.floor.wait()
        stop_server(self.proc)
