from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Heartbeat",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=16)),
                ("host", models.CharField(max_length=255)),
                ("pid", models.IntegerField()),
                ("key", models.CharField(max_length=300, unique=True)),
                ("started_at", models.DateTimeField()),
                ("last_seen", models.DateTimeField(db_index=True)),
                ("info", models.JSONField(default=dict)),
            ],
            options={"ordering": ["kind", "host", "pid"]},
        ),
    ]
