"""Signals of the privacy app.

``organization_erased`` is sent after an organization's deletion has committed, with
``organization_id`` (int) and ``slug`` (str): receivers drop whatever they keep of it outside the
database rows that the cascade removed (the envelope-encryption helper destroys its data key here).
"""

from django.dispatch import Signal

organization_erased = Signal()
