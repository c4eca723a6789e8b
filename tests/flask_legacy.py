"""What the Flask service would have written, made by the libraries it used: passlib's
`pbkdf2_sha256` hashes and itsdangerous 1.1 links. Run as a subprocess by
tests/test_flask_import.py with PYTHONPATH pointing at `.venv/flask-legacy` (itsdangerous
1.1.0 lives there, apart from the venv, whose Flask needs itsdangerous 2).

Reads one JSON object on stdin, writes one on stdout:
  {"flask_secret": str,
   "passwords": [str, ...],                          -> "hashes": [passlib string, ...]
   "resolve": [[admin_username, form_id], ...],      -> "resolve_links": [token, ...]
   "reset": [[username, token_id, unix_time], ...]}  -> "reset_links": [token, ...]
"""

import json
import sys
import time
from unittest import mock

import itsdangerous
from passlib.hash import pbkdf2_sha256

assert itsdangerous.__version__ == "1.1.0", itsdangerous.__version__


def main() -> None:
    spec = json.load(sys.stdin)
    secret = spec["flask_secret"]
    # The old service: password_hash = pbkdf2_sha256.hash(password) (29000 rounds, 16-byte salt)
    hashes = [pbkdf2_sha256.hash(p) for p in spec["passwords"]]
    resolver = itsdangerous.URLSafeSerializer(secret, salt="form-resolution")
    resolve_links = [resolver.dumps({"username": admin, "form_id": form_id}) for admin, form_id in spec["resolve"]]
    resetter = itsdangerous.URLSafeTimedSerializer(secret, salt="password-reset")
    reset_links = []
    for username, token_id, at in spec["reset"]:
        with mock.patch.object(time, "time", return_value=at):
            reset_links.append(resetter.dumps({"username": username, "token_id": token_id}))
    json.dump({"hashes": hashes, "resolve_links": resolve_links, "reset_links": reset_links}, sys.stdout)


if __name__ == "__main__":
    main()
