"""A mosquitto configuration for the line registry (SPEC.md §7): conf, password file, ACL file.

Lines log in to the broker with username = line code and password = line key; gateway
instances share one account of their own. The ACL lets a line publish only to its own input
topic and read only its own output topic; the gateway account reads every input, writes every
output and owns the ``iaqgw/v1/…`` topics instances use between themselves.
"""

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.bus.topics import (
    INPUT_FILTER,
    INTERNAL_FILTER,
    OUTPUT_FILTER,
    input_topic,
    output_topic,
)
from routing.lines import LineRegistry, dev_key, is_plain_key, verify_key

CONF_NAME = "mosquitto.conf"
PASSWORD_NAME = "passwords"
ACL_NAME = "acl"
DATA_NAME = "data"
DEFAULT_PORT = 1883
# mosquitto_passwd's own scheme ($7$: PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte hash). More
# rounds than its default of 101 because the file may leave the machine; the broker pays them
# once per connection, not per message.
HASH_ITERATIONS = 10_000
SALT_BYTES = 12


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """A username and its plain password, as the password file needs them."""

    username: str
    password: str


def mosquitto_hash(password: str, salt: bytes, iterations: int = HASH_ITERATIONS) -> str:
    """A password entry in mosquitto 2's ``$7$`` format (what mosquitto_passwd writes)."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return (
        f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )


def line_accounts(
    registry: LineRegistry, keys: Mapping[str, str], development: bool
) -> list[BrokerAccount]:
    """One broker account per line: its plain key from the registry, ``keys`` or DEV-<LINE>.

    The registry normally holds only key hashes, which no broker can check, so each plain key
    must come from the registry itself (a plain key), from ``keys`` (checked against the hash)
    or, for the shipped development registry, from the DEV-<LINE> rule. Raises ValueError
    naming the lines whose key is unknown or does not match.
    """
    accounts: list[BrokerAccount] = []
    missing: list[str] = []
    wrong: list[str] = []
    for line in registry:
        if is_plain_key(line.key_hash):
            key = line.key_hash
        elif line.code in keys:
            key = keys[line.code]
            if not verify_key(key, line.key_hash):
                wrong.append(line.code)
                continue
        elif development:
            key = dev_key(line.code)
        else:
            missing.append(line.code)
            continue
        accounts.append(BrokerAccount(line.code, key))
    if wrong:
        raise ValueError(f"keys do not match the registry for lines {', '.join(wrong)}")
    if missing:
        raise ValueError(
            f"the registry holds only key hashes for lines {', '.join(missing)}: "
            "give their keys with --keys FILE (CSV line,key)"
        )
    return accounts


def render_conf(out: Path, port: int, host: str = "127.0.0.1", as_root: bool = False) -> str:
    """mosquitto.conf text; paths are ``out`` as given (relative ones are relative to cwd)."""
    # Started by root, mosquitto switches to user "mosquitto", who could not read files that
    # root wrote here; written by root, the configuration keeps it root.
    user = "user root\n" if as_root else ""
    return f"""\
# mosquitto configuration for iaq-gateway, written by `iaqgw mqtt-config`.
# Run: mosquitto -c {out / CONF_NAME}
{user}per_listener_settings false
allow_anonymous false
password_file {out / PASSWORD_NAME}
acl_file {out / ACL_NAME}

listener {port} {host}
set_tcp_nodelay true

# Queued messages of persistent sessions (lines and gateway instances that are away) and
# retained messages survive a broker restart; a clean stop writes everything.
persistence true
persistence_location {out / DATA_NAME}/
autosave_interval 10

# Never drop a queued QoS 1 message: outputs wait here for a line that is away.
max_queued_messages 0
max_queued_bytes 0
# Enough messages in flight per client for a gateway instance under load.
max_inflight_messages 1000

log_dest stdout
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
"""


def render_acl(lines: LineRegistry, gateway_user: str) -> str:
    """ACL text: the gateway account, then one block per line."""
    parts = [
        "# Written by `iaqgw mqtt-config`: who may publish and read which topic.",
        "",
        "# Gateway instances: every input, every output, and their own topics.",
        f"user {gateway_user}",
        f"topic read {INPUT_FILTER}",
        f"topic write {OUTPUT_FILTER}",
        f"topic readwrite {INTERNAL_FILTER}",
        "",
        "# Lines: publish only to the own input topic, read only the own output topic.",
    ]
    for line in lines:
        parts += [
            f"user {line.code}",
            f"topic write {input_topic(line.code)}",
            f"topic read {output_topic(line.code)}",
        ]
    return "\n".join(parts) + "\n"


def render_passwords(accounts: list[BrokerAccount]) -> str:
    """Password file text, a fresh random salt per account."""
    return "".join(
        f"{account.username}:{mosquitto_hash(account.password, os.urandom(SALT_BYTES))}\n"
        for account in accounts
    )


def write_config(
    out: Path,
    lines: LineRegistry,
    accounts: list[BrokerAccount],
    gateway: BrokerAccount,
    port: int = DEFAULT_PORT,
) -> list[Path]:
    """Write mosquitto.conf, the password file and the ACL file into ``out``; return them."""
    if gateway.username in lines:
        raise ValueError(f"gateway account {gateway.username} is also a line code")
    out.mkdir(parents=True, exist_ok=True)
    (out / DATA_NAME).mkdir(exist_ok=True)
    files = {
        CONF_NAME: render_conf(out, port, as_root=os.geteuid() == 0),
        ACL_NAME: render_acl(lines, gateway.username),
        PASSWORD_NAME: render_passwords([gateway, *accounts]),
    }
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="ascii")
        # The password file holds hashes only, but there is no reason anyone else reads it.
        if name == PASSWORD_NAME:
            path.chmod(0o600)
        written.append(path)
    return written
