#!/usr/bin/env python3
"""Renders local/nginx/briefthreat.conf.template (the server blocks nginx serves BriefThreat
with) and checks the result with `nginx -t`.

    from render_nginx import render          # the end-to-end test, make bench
    text = render(template_text, {"NGINX_HOST": ..., ...})
    conf = standalone_conf(directory, text)  # a whole nginx.conf around it, paths in directory

    python3 local/render_nginx.py --check    # `make validate`: render, then `nginx -t`

`render` replaces exactly the five `${NAME}` placeholders (the nginx image's envsubst does
the same in docker-compose.yml) and fails on a missing value or any other `${...}`; nginx's
own `$variables` are left alone. `--check` renders into a temp dir with a throwaway
self-signed certificate (openssl) and an nginx.conf that includes the result inside
`http {}`, every path under the temp dir; nothing listens. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "briefthreat.conf.template"
PLACEHOLDERS = ("NGINX_HOST", "NGINX_HTTP_PORT", "NGINX_HTTPS_PORT", "SSL_CERT_DIR", "API_UPSTREAM")


def render(template_text: str, values: dict) -> str:
    """The template with the five placeholders replaced by `values` (all five required, no
    others accepted); ValueError on anything else that looks like a placeholder."""
    missing = [name for name in PLACEHOLDERS if name not in values]
    unknown = sorted(set(values) - set(PLACEHOLDERS))
    if missing or unknown:
        raise ValueError(f"render: missing values {missing}, unknown names {unknown}")
    text = template_text
    for name in PLACEHOLDERS:
        value = str(values[name])
        if "${" in value:
            raise ValueError(f"render: the value of {name} contains '${{': {value!r}")
        text = text.replace("${" + name + "}", value)
    leftover = re.findall(r"\$\{[^}]*\}?", text)
    if leftover:
        raise ValueError(f"render: unknown placeholders in the template: {sorted(set(leftover))}")
    return text


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.path.exists(p)), None
    )
    if not found:
        raise SystemExit("render_nginx: nginx not found (Debian: apt-get install nginx)")
    return found


def self_signed_certificate(directory: Path, host: str = "localhost") -> Path:
    """certificate.crt and key.pem (P-256) for `host` and 127.0.0.1 in `directory`, the
    names SSL_CERTS holds; returns the certificate's path."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={host}",
            "-addext", f"subjectAltName=DNS:{host},IP:127.0.0.1",
            "-keyout", str(directory / "key.pem"), "-out", str(directory / "certificate.crt"),
        ],
        check=True, capture_output=True, timeout=60,
    )
    return directory / "certificate.crt"


def standalone_conf(directory: Path, server_blocks: str) -> Path:
    """A whole nginx.conf in `directory` around `server_blocks` (inside `http {}`): one
    worker; pid, logs and temp paths under `directory`, the temp paths writable by the
    worker's user (nginx started as root runs its workers as another one)."""
    (directory / "briefthreat.conf").write_text(server_blocks, encoding="utf-8")
    (directory / "logs").mkdir(exist_ok=True)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(exist_ok=True)
        (directory / sub).chmod(0o777)
    directory.chmod(0o755)
    mime_types = "/etc/nginx/mime.types"
    conf = directory / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    {f"include {mime_types};" if os.path.exists(mime_types) else ""}
    access_log {directory}/logs/access.log;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/briefthreat.conf;
}}
""", encoding="utf-8")
    return conf


def check(template: Path = TEMPLATE) -> None:
    """Renders the template with test values and runs `nginx -t` on it."""
    nginx = nginx_binary()
    with tempfile.TemporaryDirectory(prefix="briefthreat-nginx-") as tmp_name:
        tmp = Path(tmp_name)
        certs = tmp / "certs"
        certs.mkdir()
        self_signed_certificate(certs, "briefthreat.example.org")
        conf = standalone_conf(tmp, render(template.read_text(encoding="utf-8"), {
            "NGINX_HOST": "briefthreat.example.org",
            "NGINX_HTTP_PORT": "8080",
            "NGINX_HTTPS_PORT": "8443",
            "SSL_CERT_DIR": str(certs),
            "API_UPSTREAM": "127.0.0.1:9000",
        }))
        result = subprocess.run(
            [nginx, "-t", "-p", str(tmp), "-e", str(tmp / "logs" / "error.log"), "-c", str(conf)],
            capture_output=True, text=True,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0 or "[warn]" in output or "[emerg]" in output:
            sys.stderr.write(output)
        if result.returncode != 0:
            raise SystemExit(f"render_nginx: nginx -t failed for {template}")
        print(f"render_nginx: {template.name} renders and passes nginx -t")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="render with test values and run nginx -t")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("values", nargs="*", metavar="NAME=VALUE", help="render to stdout with these values")
    args = parser.parse_args()
    if args.check:
        check(args.template)
        return
    values = dict(v.split("=", 1) for v in args.values)
    sys.stdout.write(render(args.template.read_text(encoding="utf-8"), values))


if __name__ == "__main__":
    main()
