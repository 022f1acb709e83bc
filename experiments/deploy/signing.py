"""Optional key-based signatures of exported policies (HMAC-SHA256, standard library only).

SHA-256 sums in the manifest catch accidents; anyone who edits a file can also recompute them. A
signature catches deliberate edits: at export, with a secret key, the manifest gets

    "signature": {"algorithm": "HMAC-SHA256", "key_id": K, "hmac": HMAC-SHA256(key, M)}

where M is the canonical JSON (sorted keys, no spaces) of the manifest without its ``signature``.
M holds the SHA-256 of every file, so the HMAC covers every byte of the artefact. Only holders of the
key can produce a valid signature; ``key_id`` (a digest of the key, not the key) names the key used,
so a wrong key is reported as such.

The key comes from the file given with ``--key-file`` or, failing that, from the environment variable
:data:`KEY_ENV`; leading and trailing whitespace is ignored and at least :data:`MIN_KEY_BYTES` bytes
are required (``python -c "import secrets; print(secrets.token_hex(32))"`` makes a good one).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stocklab.envs.core.errors import ConfigError, PolicyError
from stocklab.envs.core.storage import canonical_json

#: The environment variable that holds the signing key when no ``--key-file`` is given.
KEY_ENV = "STOCKLAB_SIGNING_KEY"
#: The only algorithm written and accepted.
ALGORITHM = "HMAC-SHA256"
#: The shortest key accepted (bytes): shorter keys can be guessed.
MIN_KEY_BYTES = 16
#: The largest key file read (bytes).
MAX_KEY_FILE_BYTES = 4096


def load_key(key_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The signing key: the contents of ``key_file`` if given, else ``$STOCKLAB_SIGNING_KEY``, else None.

    ConfigError (exit code 2) names the source when the file cannot be read or the key is too short.
    """
    environ = os.environ if environ is None else environ
    if key_file is not None:
        path = Path(key_file).expanduser()
        what = f"--key-file {str(key_file)!r}"
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{what}: not a regular file; give a file that holds the key")
            if info.st_size > MAX_KEY_FILE_BYTES:
                raise ConfigError(
                    f"{what}: {info.st_size} bytes; a key file holds at most {MAX_KEY_FILE_BYTES}"
                )
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read the key ({exc.strerror})") from None
        return _checked(raw.strip(), what)
    value = environ.get(KEY_ENV)
    if value is None or value == "":
        return None
    return _checked(value.strip().encode("utf-8"), f"${KEY_ENV}")


def _checked(key: bytes, what: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{what}: the key has {len(key)} bytes; give at least {MIN_KEY_BYTES} (for example "
            '`python -c "import secrets; print(secrets.token_hex(32))"`)'
        )
    return key


def key_id(key: bytes) -> str:
    """A short public name of ``key`` (16 hex digits of a keyed digest; it does not reveal the key)."""
    return hmac.new(key, b"stocklab signing key id", hashlib.sha256).hexdigest()[:16]


def _mac(manifest: Mapping[str, Any], key: bytes) -> str:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()


def signature(manifest: Mapping[str, Any], key: bytes) -> dict[str, str]:
    """The ``signature`` entry of ``manifest`` (which must already hold every other key) under ``key``."""
    return {"algorithm": ALGORITHM, "key_id": key_id(key), "hmac": _mac(manifest, key)}


def check_signature(
    manifest: Mapping[str, Any], key: bytes | None, required: bool, where: str | Path
) -> bool:
    """Check the manifest's signature; return whether it was verified.

    * ``required`` and no key, or no signature: PolicyError;
    * a key and a signature: the signature must verify under the key (else PolicyError: a wrong key
      or an edited artefact);
    * otherwise (no key, or an unsigned artefact when not required): accepted unverified (False).
    """
    sig = manifest.get("signature")
    if required and key is None:
        raise PolicyError(
            f"{where}: a signature is required but no key was given; set ${KEY_ENV} or pass --key-file"
        )
    if sig is None:
        if required:
            raise PolicyError(f"{where}: the policy is not signed, and a signature is required")
        return False
    if key is None:
        return False
    if not isinstance(sig, dict) or sig.get("algorithm") != ALGORITHM or not isinstance(sig.get("hmac"), str):
        raise PolicyError(f"{where}: malformed signature (expected {ALGORITHM})")
    if sig.get("key_id") != key_id(key):
        raise PolicyError(
            f"{where}: signed with key {sig.get('key_id')!r}, but the given key is {key_id(key)!r}; "
            "give the key the policy was exported with"
        )
    if not hmac.compare_digest(sig["hmac"], _mac(manifest, key)):
        raise PolicyError(f"{where}: signature mismatch; the artefact was changed after it was signed")
    return True
