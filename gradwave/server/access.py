"""Who may call the speech server's `/v1/` routes, and how often.

With keys, every `/v1/` request must carry `Authorization: Bearer KEY` for one of them (compared in
constant time), as OpenAI's API asks, so OpenAI's client with `api_key=KEY` works unchanged; otherwise it
is answered 401 in OpenAI's error shape. With a limit, each client (its key, or its address when there are
no keys) gets at most that many requests in any 60 seconds; past it, 429 with `Retry-After`. `/health`
and the page stay open (the page asks for the key when the server has one).
"""
from __future__ import annotations

import hmac
import math
import os
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

KEY_VARIABLE = "GRADWAVE_API_KEY"
WINDOW_S = 60.0
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    code: Optional[str]
    retry_after_s: Optional[int] = None


def read_keys(keys: list[str], key_file: Optional[str], environ=os.environ) -> tuple[str, ...]:
    """The keys of `--api-key` (any number), `--api-key-file` (one per line; blank lines and # comments
    skipped) and $GRADWAVE_API_KEY, in that order, without repeats."""
    found = list(keys)
    if key_file:
        for line in Path(key_file).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                found.append(line.strip())
    if environ.get(KEY_VARIABLE, "").strip():
        found.append(environ[KEY_VARIABLE].strip())
    return tuple(dict.fromkeys(found))


def exposed_without_key(host: str, keys: tuple[str, ...]) -> bool:
    """True when the server listens beyond this machine and anyone who reaches it may use it."""
    return not keys and host not in LOOPBACK


class AccessControl:
    def __init__(self, keys: tuple[str, ...] = (), requests_per_minute: int = 0, clock=time.monotonic):
        if requests_per_minute < 0:
            raise ValueError(f"requests per minute must be 0 (no limit) or more, not {requests_per_minute}")
        self.keys = tuple(key.encode() for key in keys)
        self.requests_per_minute = requests_per_minute
        self.clock = clock
        self.recent: dict[str, deque] = defaultdict(deque)

    @property
    def key_required(self) -> bool:
        return bool(self.keys)

    def admit(self, authorization: Optional[str], address: str) -> Optional[Refusal]:
        """None when the request may go on; else why not."""
        client = address
        if self.keys:
            scheme, _, given = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not given.strip():
                return Refusal(401, "You didn't provide an API key. Send it in the Authorization header: "
                                    "'Authorization: Bearer KEY'.", None)
            given_bytes = given.strip().encode()
            if not any(hmac.compare_digest(given_bytes, key) for key in self.keys):
                return Refusal(401, "Incorrect API key provided.", "invalid_api_key")
            client = "key:" + given.strip()
        if self.requests_per_minute:
            return self.count(client)
        return None

    def count(self, client: str) -> Optional[Refusal]:
        now = self.clock()
        times = self.recent[client]
        while times and now - times[0] >= WINDOW_S:
            times.popleft()
        if len(times) >= self.requests_per_minute:
            wait = max(1, math.ceil(WINDOW_S - (now - times[0])))
            return Refusal(429, f"Rate limit reached: {self.requests_per_minute} requests per minute. "
                                f"Retry in {wait} s.", "rate_limit_exceeded", wait)
        times.append(now)
        return None
