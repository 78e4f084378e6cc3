"""Load profiles: the YAML format (docs/loadtesting.md, "Profiles"), its validation with line
numbers, normalisation, and the shipped profiles of ``loadtests/``.

``parse_profile(text) -> dict`` (raises ``ProfileError(messages)``), ``shipped_profiles() ->
dict[str, str]``, ``peak_rate(arrival)``, ``profile_scopes(profile)``.
"""

from omni.loadtest.profiles.parse import parse_profile, peak_rate, profile_scopes
from omni.loadtest.profiles.shipped import shipped_profiles
from omni.loadtest.profiles.source import ProfileError

__all__ = ["ProfileError", "parse_profile", "peak_rate", "profile_scopes", "shipped_profiles"]
