"""Alerting pages: ``/o/<slug>/alerts/…`` for an organization, ``/ops/alerts/…`` for operators."""

from django.urls import path

from omni.monitoring.alerts import views as v

ITEM = "<uuid:item_id>"

PAGES = [
    ("", v.incident_list, "incidents"),
    (f"incidents/{ITEM}/", v.incident_detail, "incident"),
    (f"incidents/{ITEM}/ack/", v.incident_ack, "incident_ack"),
    (f"incidents/{ITEM}/resolve/", v.incident_resolve, "incident_resolve"),
    ("rules/", v.rule_list, "rules"),
    ("rules/new/", v.rule_create, "rule_create"),
    (f"rules/{ITEM}/edit/", v.rule_edit, "rule_edit"),
    (f"rules/{ITEM}/delete/", v.rule_delete, "rule_delete"),
    ("channels/", v.channel_list, "channels"),
    ("channels/new/", v.channel_create, "channel_create"),
    (f"channels/{ITEM}/edit/", v.channel_edit, "channel_edit"),
    (f"channels/{ITEM}/delete/", v.channel_delete, "channel_delete"),
    (f"channels/{ITEM}/test/", v.channel_test, "channel_test"),
    ("maintenance/", v.maintenance_list, "maintenance"),
    ("maintenance/new/", v.maintenance_create, "maintenance_create"),
    (f"maintenance/{ITEM}/delete/", v.maintenance_delete, "maintenance_delete"),
]

urlpatterns = [
    path(f"o/<slug:slug>/alerts/{route}", doors[0], name=f"alerts_{name}") for route, doors, name in PAGES
]
urlpatterns += [
    path(f"ops/alerts/{route}", doors[1], name=f"ops_alerts_{name}") for route, doors, name in PAGES
]
