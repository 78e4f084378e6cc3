"""Login lockout: too many failed logins for a username, or from an IP, lock it for a while.

Counters live in the ``LOGIN_LOCKOUT_CACHE`` cache, which every process shares: Redis in production,
a file cache under ``var/`` in the embedded default (``filecache.py``), so ``manage.py unlock_login``
lifts a lock for every web process, with or without Redis.
Within ``LOGIN_LOCKOUT_WINDOW_SECONDS``, ``LOGIN_LOCKOUT_FAILURES`` failures for one username, or
``LOGIN_LOCKOUT_IP_FAILURES`` from one IP, lock that username or IP for
``LOGIN_LOCKOUT_MINUTES``; while locked every attempt is refused, right password or not, and is
not counted again. A successful login clears the username's failures (not the IP's: an attacker's
own account must not reset the counter of the addresses they guess from).

Every login path goes through here: ``LockoutBackend`` (first in ``AUTHENTICATION_BACKENDS``)
refuses locked attempts inside ``django.contrib.auth.authenticate`` and the ``user_login_failed``
signal counts failures, so the UI log-in form, the admin's and the JWT token endpoint share it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches

from omni.security.ratelimit import client_ip

PREFIX = "omni:lockout"


@dataclass(frozen=True)
class Lockout:
    """An active lock: on a username or an IP, until ``retry_after`` seconds from now."""

    subject: str  # "username" or "ip"
    retry_after: int

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))

    @property
    def message(self) -> str:
        unit = "minute" if self.minutes == 1 else "minutes"
        who = "this account" if self.subject == "username" else "your network address"
        return f"Too many failed log-ins for {who}. Log-in is locked: try again in {self.minutes} {unit}."


def _cache() -> Any:
    return caches[getattr(settings, "LOGIN_LOCKOUT_CACHE", "default")]


def _username_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()
    return f"username:{digest[:40]}"


def _ip_key(request: Any) -> str:
    return f"ip:{client_ip(request)}"


def _subjects(request: Any, username: str | None) -> list[tuple[str, str, int]]:
    """(subject, key, threshold) for the username and the IP of an attempt."""
    subjects = []
    if isinstance(username, str) and username.strip():
        subjects.append(("username", _username_key(username), settings.LOGIN_LOCKOUT_FAILURES))
    if request is not None:
        subjects.append(("ip", _ip_key(request), settings.LOGIN_LOCKOUT_IP_FAILURES))
    return subjects


def check(request: Any, username: str | None) -> Lockout | None:
    """The lock that refuses this attempt (the username's first), or None when it may proceed."""
    cache = _cache()
    now = time.time()
    for subject, key, _threshold in _subjects(request, username):
        until = cache.get(f"{PREFIX}:lock:{key}")
        if until is not None and until > now:
            return Lockout(subject, max(1, math.ceil(until - now)))
    return None


def record_refusal(request: Any, username: str | None, active: Lockout) -> None:
    """Audit an attempt that ``active`` refused (``auth.login_refused``)."""
    from omni.security.audit import record_event

    record_event(
        "auth.login_refused",
        request=request,
        target_type="auth.username",
        target_id=username or "",
        details={"locked": active.subject, "retry_after": active.retry_after},
    )


def _increment(key: str, window: int) -> int:
    cache = _cache()
    name = f"{PREFIX}:fail:{key}"
    cache.add(name, 0, window)
    try:
        return cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.set(name, 1, window)
        return 1


def register_failure(request: Any, username: str | None) -> Lockout | None:
    """Count a failed attempt; returns the lock it started (or the one already active)."""
    active = check(request, username)
    if active is not None:
        return active
    window = settings.LOGIN_LOCKOUT_WINDOW_SECONDS
    duration = settings.LOGIN_LOCKOUT_MINUTES * 60
    started = None
    for subject, key, threshold in _subjects(request, username):
        if _increment(key, window) >= threshold:
            cache = _cache()
            cache.set(f"{PREFIX}:lock:{key}", time.time() + duration, duration)
            cache.delete(f"{PREFIX}:fail:{key}")
            started = started or Lockout(subject, duration)
    return started


def reset(request: Any, username: str | None) -> None:
    """Forget the failures of ``username`` (after a successful login). The IP's count stays."""
    if isinstance(username, str) and username.strip():
        key = _username_key(username)
        _cache().delete_many([f"{PREFIX}:fail:{key}", f"{PREFIX}:lock:{key}"])


def unlock(username: str | None = None, ip: str | None = None) -> None:
    """Lift a lock by hand (operators: ``manage.py unlock_login``)."""
    keys = []
    if username:
        keys.append(_username_key(username))
    if ip:
        keys.append(f"ip:{ipaddress.ip_address(ip.strip())}")  # ValueError for a malformed address
    _cache().delete_many([f"{PREFIX}:{kind}:{key}" for key in keys for kind in ("fail", "lock")])
