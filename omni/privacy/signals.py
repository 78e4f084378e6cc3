"""Signals of the privacy app.

``organization_erased`` is sent after an organization's deletion has committed, with
``organization_id`` (int) and ``slug`` (str): receivers drop whatever they keep of it outside the
database rows that the cascade removed (the envelope-encryption helper destroys its data key here).

``user_erasing`` is sent inside the erasure's transaction, before the account is deleted, with
``user_id`` (int), ``username`` and ``email`` (str, may be empty): apps that keep the person's name
or address in rows the erasure does not know remove it there (the alerting app: addresses of email
channels). A receiver that raises rolls the erasure back.
"""

from django.dispatch import Signal

organization_erased = Signal()
user_erasing = Signal()
