"""A writer that the crash-safety test kills with SIGKILL at a random moment.

    python crash_child.py URL RUN LOG

Master key (hex) in STRONGROOM_TEST_CRASH_KEY. Writes "intent" before each operation
and "ack" after it returns, one line each, straight to the log file (O_APPEND), so a
kill leaves at most one operation in flight.
"""

from __future__ import annotations

import json
import os
import random
import sys

from strongroom import SecretsManager


def main() -> None:
    url, run, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(run)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def note(*fields: object) -> None:
        os.write(log, (json.dumps(fields) + "\n").encode())

    secrets: dict[str, str] = {}  # name -> "live" | "deleted"
    keys: dict[str, str] = {}  # key id -> "live" | "deleted"
    key = bytes.fromhex(os.environ["STRONGROOM_TEST_CRASH_KEY"])
    with SecretsManager.open(url, master_key=key) as sm:
        note("ready")
        step = 0
        while True:
            step += 1
            name = f"r{run}/s{rng.randrange(5)}"
            key_id = f"r{run}/k{rng.randrange(3)}"
            state = secrets.get(name)
            choice = rng.random()
            if choice < 0.15:
                if keys.get(key_id) is None:
                    material = f"{key_id}#{step}"
                    note("intent", "set_key", key_id, material)
                    sm.keys.set_secret(key_id, material)
                    keys[key_id] = "live"
                    note("ack", "set_key", key_id, material)
                elif keys[key_id] == "live":
                    note("intent", "delete_key", key_id, None)
                    sm.keys.delete_secret(key_id)
                    keys[key_id] = "deleted"
                    note("ack", "delete_key", key_id, None)
                continue
            if state is None:
                value = f"{name}#{step}"
                note("intent", "create", name, value)
                sm.create(name, value)
                secrets[name] = "live"
                note("ack", "create", name, value)
            elif state == "live" and choice < 0.25:
                note("intent", "delete", name, None)
                sm.delete(name)
                secrets[name] = "deleted"
                note("ack", "delete", name, None)
            elif state == "live" and choice < 0.6:
                value: object = f"{name}#{step}" if rng.random() < 0.5 else {"at": step}
                note("intent", "update", name, value)
                sm.put(name, value)  # type: ignore[arg-type]
                note("ack", "update", name, value)
            elif state == "live":
                note("intent", "patch", name, {f"k{step}": step})
                try:
                    sm.patch(name, {f"k{step}": step})
                    note("ack", "patch", name, {f"k{step}": step})
                except Exception:
                    note("ack", "noop", name, None)


if __name__ == "__main__":
    main()
