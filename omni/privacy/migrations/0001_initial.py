from django.db import migrations


class Migration(migrations.Migration):
    """The app's first migration: no models yet; each concern adds its own migration after it."""

    initial = True
    dependencies = []
    operations = []
