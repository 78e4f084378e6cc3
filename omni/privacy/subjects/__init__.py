"""Data-subject rights: export and erasure of a person or an organization, and their register.

* ``export``   — what a person's or an organization's zip holds (one table per file, explicit).
* ``erasure``  — erasing a person, deleting an organization (rows, Redis keys, sessions).
* ``services`` — requests, grace periods, one-time download links, the audit events.
* ``tasks``    — the Celery tasks that build exports and carry out erasures when due.
"""
