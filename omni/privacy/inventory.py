"""The data inventory: every model field and every Redis key family, classified.

Machine-readable on purpose: ``tests/privacy/test_inventory.py`` fails when a model of any
installed app gains a field that is not classified here, and when docs/privacy.md's inventory
section differs from ``render_markdown()`` (regenerate it with
``python manage.py privacy_inventory --write``).

Classes:

* ``secret``      credentials and key material: never shown again once stored, never exported.
* ``personal``    data about an identifiable person (names, addresses, IPs, usernames).
* ``content``     tenant content: what an organization's people and clients put in or got back.
* ``operational`` ids, timestamps, states, counters, settings: how the platform runs.

Protection (how the value is stored): ``encrypted:org`` (AES-256-GCM with the organization's data
key, omni.privacy.crypto), ``encrypted:fernet`` (django-encrypted-model-fields with
FIELD_ENCRYPTION_KEY), ``hashed`` (one-way), ``blind-index`` (keyed hash for lookups), ``sealed``
(a part of a JSON value encrypted with the org key), ``masked`` (secrets removed before storing),
or ``plain`` with the reason in the note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SECRET = "secret"  # noqa: S105 (a class name, not a password)
PERSONAL = "personal"
CONTENT = "content"
OPERATIONAL = "operational"
CLASSES = (SECRET, PERSONAL, CONTENT, OPERATIONAL)

ENC = "encrypted:org"
FERNET = "encrypted:fernet"
HASHED = "hashed"
BLIND = "blind-index"
PLAIN = "plain"
PROTECTIONS = (ENC, FERNET, HASHED, BLIND, PLAIN, "sealed", "masked")


@dataclass(frozen=True)
class FieldClass:
    kind: str
    protection: str = PLAIN
    note: str = ""


@dataclass(frozen=True)
class ModelEntry:
    label: str  # app_label.ModelName
    readers: str
    retention: str
    export: str
    erasure: str
    fields: dict[str, FieldClass] = field(default_factory=dict)


@dataclass(frozen=True)
class RedisFamily:
    pattern: str
    kind: str
    content: str
    readers: str
    retention: str
    erasure: str


def _f(spec: dict[str, FieldClass]) -> dict[str, FieldClass]:
    """Expand keys that name several fields at once ("id created_at updated_at")."""
    out: dict[str, FieldClass] = {}
    for names, value in spec.items():
        for name in names.split():
            out[name] = value
    return out


OP = FieldClass(OPERATIONAL)
ORG_FK = FieldClass(OPERATIONAL, note="the tenant the row belongs to")
USER_FK = FieldClass(PERSONAL, note="links the row to a person")
NAME_COPY = FieldClass(
    PERSONAL, note="actor's username copied so the row outlives the user; plain for filtering"
)
CATALOGUE = FieldClass(CONTENT, note="plain: served to MCP clients and searched by name")

ORG_MEMBERS = "members of the organization (viewer and up); superusers"
ORG_ADMINS = "admins and owners of the organization; superusers"
UNTIL_ORG = "until deleted by its owner, or with the organization"

MODELS: tuple[ModelEntry, ...] = (
    # ------------------------------------------------------------------ tenants
    ModelEntry(
        "tenants.Organization",
        ORG_MEMBERS,
        "until the organization is deleted",
        "organization export (pdsr)",
        "organization deletion (cascades to every tenant row; destroys its data keys)",
        _f(
            {
                "id created_at": OP,
                "slug name": FieldClass(CONTENT, note="plain: names the tenant in URLs and the UI"),
                "settings": FieldClass(OPERATIONAL, note="feature switches and quotas (no secrets)"),
            }
        ),
    ),
    ModelEntry(
        "tenants.Membership",
        ORG_MEMBERS,
        "while the person is a member",
        "user export; organization export",
        "removing the member, user erasure, organization deletion",
        _f({"id created_at role": OP, "user": USER_FK, "organization": ORG_FK}),
    ),
    ModelEntry(
        "tenants.ApiKey",
        ORG_ADMINS + " (metadata only; the key itself is never shown again)",
        "until revoked and deleted, or with the organization",
        "metadata in the user/organization export; never the hash",
        "revocation; organization deletion",
        _f(
            {
                "id scopes expires_at revoked_at last_used_at created_at rate_limit_exempt": OP,
                "organization": ORG_FK,
                "name": FieldClass(CONTENT),
                "prefix": FieldClass(OPERATIONAL, note="public part of the key, shown to identify it"),
                "key_hash": FieldClass(SECRET, HASHED, "sha256 of the key; the key is never stored"),
                "created_by": USER_FK,
            }
        ),
    ),
    ModelEntry(
        "tenants.Invitation",
        ORG_ADMINS,
        "pending until accepted, revoked or expired; ended ones: the 'expired_invitations' retention "
        "class (default 30 days after they ended)",
        "organization export; the invited person's export",
        "organization deletion; crypto-shredding makes the address unreadable",
        _f(
            {
                "id role created_at expires_at accepted_at revoked_at": OP,
                "organization": ORG_FK,
                "email": FieldClass(PERSONAL, ENC, "the invited address"),
                "email_hash": FieldClass(
                    PERSONAL, BLIND, "keyed hash of the address: finds a pending invitation"
                ),
                "token_hash": FieldClass(
                    SECRET, HASHED, "sha256 of the link's token; the token is only in the mail"
                ),
                "invited_by accepted_by": USER_FK,
                "invited_by_name": NAME_COPY,
            }
        ),
    ),
    # ------------------------------------------------------------------ registry
    ModelEntry(
        "registry.Prompt",
        ORG_MEMBERS + "; the organization's MCP clients",
        UNTIL_ORG,
        "organization export",
        "delete in the UI; organization deletion",
        _f(
            {
                "id uuid created_at updated_at": OP,
                "organization": ORG_FK,
                "name title description arguments messages": CATALOGUE,
            }
        ),
    ),
    ModelEntry(
        "registry.Resource",
        ORG_MEMBERS + "; the organization's MCP clients",
        UNTIL_ORG,
        "organization export",
        "delete in the UI; organization deletion",
        _f(
            {
                "id uuid created_at updated_at mime_type": OP,
                "organization": ORG_FK,
                "uri name title description text blob": CATALOGUE,
            }
        ),
    ),
    ModelEntry(
        "registry.ResourceTemplate",
        ORG_MEMBERS + "; the organization's MCP clients",
        UNTIL_ORG,
        "organization export",
        "delete in the UI; organization deletion",
        _f(
            {
                "id uuid created_at updated_at mime_type": OP,
                "organization": ORG_FK,
                "uri_template name title description text_template": CATALOGUE,
            }
        ),
    ),
    ModelEntry(
        "registry.ServerConnection",
        ORG_MEMBERS + " (the credential: nobody, it is write-only)",
        UNTIL_ORG,
        "organization export without the credential",
        "delete in the UI; organization deletion",
        _f(
            {
                "id uuid created_at updated_at transport enabled timeout_seconds tool_allowlist": OP,
                "no_prefix": OP,
                "organization": ORG_FK,
                "name title description target url command args": FieldClass(
                    CONTENT, note="plain: the gateway connects with them on every call"
                ),
                "env": FieldClass(
                    CONTENT, note="plain: environment of a stdio server; secrets belong in credential"
                ),
                "credential": FieldClass(
                    SECRET, FERNET, "bearer token sent to the server (FIELD_ENCRYPTION_KEY)"
                ),
            }
        ),
    ),
    ModelEntry(
        "registry.AccessRule",
        ORG_ADMINS,
        UNTIL_ORG,
        "organization export",
        "delete in the UI; organization deletion",
        _f(
            {
                "id uuid subject_type role kind effect priority created_at": OP,
                "organization": ORG_FK,
                "api_key": FieldClass(OPERATIONAL, note="the key a rule applies to"),
                "pattern description": FieldClass(CONTENT),
                "created_by": USER_FK,
            }
        ),
    ),
    ModelEntry(
        "registry.ToolPin",
        ORG_ADMINS,
        "while the connection exists",
        "organization export",
        "with the connection; organization deletion",
        _f(
            {
                "id uuid tool_name approved_hash pending_hash status": OP,
                "first_seen_at changed_at approved_at": OP,
                "connection": OP,
                "approved_definition pending_definition": FieldClass(
                    CONTENT, note="plain: a downstream tool's public definition, compared on every listing"
                ),
                "approved_by": USER_FK,
            }
        ),
    ),
    # ------------------------------------------------------------------ gateway
    ModelEntry(
        "gateway.SigningKey",
        "nobody through the UI; the gateway process",
        "until retired keys are removed by an operator",
        "never",
        "operator (retire_signing_key)",
        _f(
            {
                "id key_id created_at retired_at": OP,
                "secret": FieldClass(SECRET, FERNET, "HMAC secret for server-to-server signing"),
            }
        ),
    ),
    # ------------------------------------------------------------------ audit
    ModelEntry(
        "audit.AuditEvent",
        "admins and owners of the organization (audit:read); global events: superusers",
        "append-only and hash-chained; the 'audit_events' retention class (default 365 days, per "
        "organization, legal hold) prunes the oldest and records a checkpoint",
        "organization export; the actor's events in the user export",
        "organization deletion detaches events (org set NULL, slug kept); user erasure replaces the "
        "person's fields by markers and drops their salts (chain version 2: the chain still verifies)",
        _f(
            {
                "id public_id seq created_at action target_type target_id request_id": OP,
                "prev_hash hash source source_seq chain_version": OP,
                "personal": FieldClass(
                    PERSONAL,
                    HASHED,
                    "chain version 2: salted sha256 of each personal field, hashed into the chain in "
                    "place of the values; meaningless once the salts are dropped",
                ),
                "personal_salts": FieldClass(
                    SECRET,
                    note="plain: a random salt per personal field, not hashed into the chain; user erasure "
                    "drops them; never exported",
                ),
                "organization": ORG_FK,
                "org_slug": FieldClass(
                    OPERATIONAL, note="copied so events outlive the organization (hashed)"
                ),
                "actor_type actor_id": OP,
                "actor_name": NAME_COPY,
                "target_repr": FieldClass(
                    PERSONAL,
                    note="plain, hashed (version 2: through `personal`): may name a person "
                    "(invitation addresses are masked a***@domain)",
                ),
                "ip": FieldClass(PERSONAL, note="plain: hashed into the chain, shown in the viewer"),
                "data": FieldClass(
                    CONTENT,
                    "sealed",
                    "plain JSON (filtered by outcome); tool-call arguments inside are masked and encrypted "
                    "with the organization key before the chain hashes them",
                ),
            }
        ),
    ),
    ModelEntry(
        "audit.AuditChainHead",
        "the audit writers",
        "one row, forever",
        "never",
        "never",
        _f({"id last_seq last_hash": OP}),
    ),
    ModelEntry(
        "audit.AuditSource",
        "superusers (verify_audit)",
        "forever (small)",
        "never",
        "never",
        _f({"id name spooled written dead first_seen updated_at": OP}),
    ),
    ModelEntry(
        "audit.AuditDeadLetter",
        "superusers",
        "until an operator removes it",
        "never",
        "operator",
        _f(
            {
                "id source source_seq spool_id created_at error": OP,
                "payload": FieldClass(
                    CONTENT, note="raw spooled event that could not be written (as spooled)"
                ),
            }
        ),
    ),
    # ------------------------------------------------------------------ built-in MCP servers
    ModelEntry(
        "mcp_servers.Note",
        "the organization's MCP clients (knowledge server)",
        UNTIL_ORG,
        "organization export",
        "delete_note tool; organization deletion",
        _f(
            {
                "id public_id created_at updated_at": OP,
                "org_slug": ORG_FK,
                "title body tags": FieldClass(CONTENT, note="plain: full-text searched by search_notes"),
            }
        ),
    ),
    ModelEntry(
        "mcp_servers.Dataset",
        "the organization's MCP clients (analytics server)",
        UNTIL_ORG,
        "organization export",
        "organization deletion; crypto-shredding",
        _f(
            {
                "id created_at updated_at": OP,
                "org_slug": ORG_FK,
                "name": FieldClass(CONTENT, note="plain: datasets are looked up by name"),
                "columns rows": FieldClass(CONTENT, ENC, "uploaded CSV data"),
            }
        ),
    ),
    # ------------------------------------------------------------------ playground and scenarios
    ModelEntry(
        "playground.TestRun",
        ORG_MEMBERS,
        "the 'test_runs' retention class (default 90 days, per organization, legal hold)",
        "organization export; the actor's runs in the user export",
        "retention; organization deletion; crypto-shredding; user erasure unlinks the person",
        _f(
            {
                "id public_id source operation outcome duration_ms created_at": OP,
                "organization": ORG_FK,
                "scenario_run": OP,
                "user": USER_FK,
                "username": NAME_COPY,
                "target": FieldClass(CONTENT, note="plain: tool/prompt name or URI, analytics group by it"),
                "request response events": FieldClass(CONTENT, ENC, "secrets masked before storing"),
                "error": FieldClass(
                    CONTENT, "masked", "plain (shown in lists); secrets masked before storing"
                ),
                "validation": FieldClass(OPERATIONAL, note="schema validation verdicts"),
            }
        ),
    ),
    ModelEntry(
        "playground.ScenarioRun",
        ORG_MEMBERS,
        "the 'scenario_runs' retention class (default 90 days, per organization, legal hold)",
        "organization export; the actor's runs in the user export",
        "retention; organization deletion; crypto-shredding; user erasure unlinks the person",
        _f(
            {
                "id public_id trigger origin stop_on_failure status": OP,
                "total_steps passed_steps failed_steps": OP,
                "duration_ms started_at finished_at": OP,
                "organization": ORG_FK,
                "user": USER_FK,
                "username": NAME_COPY,
                "name": FieldClass(CONTENT),
                "text": FieldClass(CONTENT, note="plain: the scenario file as it ran (no data of its own)"),
                "variables report": FieldClass(CONTENT, ENC, "secrets masked before storing"),
            }
        ),
    ),
    ModelEntry(
        "playground.UploadedScenario",
        ORG_MEMBERS,
        UNTIL_ORG,
        "organization export",
        "delete in the UI; organization deletion",
        _f(
            {
                "id public_id created_at updated_at": OP,
                "organization": ORG_FK,
                "name description text": FieldClass(
                    CONTENT, note="plain: scenario files, listed and searched by name"
                ),
                "created_by": USER_FK,
            }
        ),
    ),
    # ------------------------------------------------------------------ privacy
    ModelEntry(
        "privacy.DataKey",
        "the application only (never shown)",
        "live until destroyed; destroyed rows stay (empty) so reads can say so",
        "never",
        "destroy_org_key; organization deletion (cascade)",
        _f(
            {
                "id key_id master_key_id created_at rewrapped_at destroyed_at": OP,
                "organization": ORG_FK,
                "wrapped_key": FieldClass(
                    SECRET, "encrypted:master", "the data key, wrapped by a master key"
                ),
            }
        ),
    ),
    ModelEntry(
        "privacy.DataSubjectRequest",
        "the requester (their own requests); owners of the organization (its register); superusers "
        "(/privacy/requests/)",
        "the register is kept as the record of the request; an archive until it is downloaded once or "
        "its link expires (DSR_EXPORT_LINK_HOURS), then cleared",
        "the person's requests in the user export (id, kind, state, dates)",
        "user erasure clears the person's archives and unlinks them (user and requested_by NULL; the "
        "label stays); organization deletion unlinks the organization",
        _f(
            {
                "id public_id kind subject_type via state requested_at due_at scheduled_for": OP,
                "completed_at error archive_name archive_bytes link_expires_at downloaded_at": OP,
                "user requested_by": USER_FK,
                "organization": ORG_FK,
                "subject_label": FieldClass(
                    OPERATIONAL, note='"user #12" or "org <slug>": no name, no address'
                ),
                "archive": FieldClass(
                    PERSONAL,
                    ENC,
                    "the export zip: the organization's key for an organization export, the platform "
                    "key for a person's",
                ),
                "link_nonce": FieldClass(
                    SECRET,
                    note="plain: the one-time part of the signed download link, compared on download "
                    "and cleared when used",
                ),
            }
        ),
    ),
    ModelEntry(
        "privacy.OrgRetention",
        "the organization's privacy page (audit:read); owners change it (privacy:manage); superusers",
        "while the organization exists",
        "organization export",
        "organization deletion; user erasure clears legal_hold_by",
        _f(
            {
                "id days legal_hold legal_hold_since updated_at": OP,
                "organization": ORG_FK,
                "legal_hold_reason": FieldClass(CONTENT),
                "legal_hold_by": FieldClass(
                    PERSONAL, note="username of who set the hold, copied; plain (shown on the page)"
                ),
            }
        ),
    ),
    ModelEntry(
        "privacy.RetentionRun",
        "the organization's privacy page (audit:read) for its own runs; superusers",
        "the 'retention_runs' retention class (default 180 days, platform-wide)",
        "organization export",
        "retention; organization deletion unlinks them (slug kept)",
        _f(
            {
                "id run_id class_name trigger dry_run status cutoff days deleted batches error": OP,
                "started_at finished_at": OP,
                "organization": ORG_FK,
                "org_slug": FieldClass(OPERATIONAL, note="copied so runs outlive the organization"),
            }
        ),
    ),
    # ------------------------------------------------------------------ monitoring: alerting
    ModelEntry(
        "monitoring.NotificationChannel",
        ORG_MEMBERS + " (the signing secret: nobody, it is write-only); admins and owners change them; "
        "global channels (no organization): superusers",
        UNTIL_ORG,
        "organization export without the addresses, the URL and the secret (encrypted fields are "
        "never exported)",
        "delete in the UI; organization deletion; crypto-shredding; user erasure removes the person's "
        "address from email channels",
        _f(
            {
                "id uuid kind enabled created_at updated_at": OP,
                "organization": FieldClass(
                    OPERATIONAL, note="the tenant the row belongs to; NULL: a global channel (platform key)"
                ),
                "name": FieldClass(CONTENT),
                "emails": FieldClass(PERSONAL, ENC, "the recipients' addresses"),
                "url": FieldClass(
                    SECRET, ENC, "where webhooks are POSTed; a Slack-style URL is a credential by itself"
                ),
                "secret": FieldClass(SECRET, FERNET, "HMAC key that signs webhooks (FIELD_ENCRYPTION_KEY)"),
            }
        ),
    ),
    ModelEntry(
        "monitoring.AlertRule",
        ORG_MEMBERS + "; admins and owners change them; global rules: superusers",
        UNTIL_ORG,
        "organization export",
        "delete in the UI; organization deletion",
        _f(
            {
                "id uuid kind comparison threshold for_seconds severity enabled channels": OP,
                "pending_since last_evaluated_at last_value created_at updated_at": OP,
                "organization": ORG_FK,
                "name": FieldClass(CONTENT),
                "params": FieldClass(
                    CONTENT, note="plain: the window and scope (server, tool, API key id) the evaluator reads"
                ),
            }
        ),
    ),
    ModelEntry(
        "monitoring.AlertRule_channels",
        ORG_MEMBERS,
        "with the rule and the channel",
        "not exported (links between the exported rules and channels)",
        "with the rule or the channel",
        _f({"id alertrule notificationchannel": OP}),
    ),
    ModelEntry(
        "monitoring.Incident",
        ORG_MEMBERS + "; admins and owners acknowledge and resolve; global incidents: superusers",
        "active ones stay; resolved ones: the 'incidents' retention class (default 365 days after "
        "resolving, per organization, legal hold)",
        "organization export",
        "retention; organization deletion; user erasure unlinks the person (acknowledged_by and "
        "resolved_by become NULL)",
        _f(
            {
                "id uuid rule severity state dedupe_key opened_at acknowledged_at resolved_at": OP,
                "organization": ORG_FK,
                "rule_name title": FieldClass(CONTENT, note="copied from the rule: the incident outlives it"),
                "evidence": FieldClass(
                    CONTENT, note="plain: the measured value, condition and scope (counts, no payloads)"
                ),
                "resolution": FieldClass(CONTENT, note="short text: how it resolved"),
                "acknowledged_by resolved_by": USER_FK,
            }
        ),
    ),
    ModelEntry(
        "monitoring.Delivery",
        ORG_MEMBERS + " (an incident's delivery timeline); global: superusers",
        "the 'alert_deliveries' retention class (default 90 days, per organization, legal hold); "
        "with their incident",
        "organization export",
        "retention; organization deletion",
        _f(
            {
                "id uuid channel incident event attempt status response_code next_retry_at created_at": OP,
                "organization": ORG_FK,
                "channel_name": FieldClass(CONTENT, note="copied: the log outlives the channel"),
                "error": FieldClass(
                    OPERATIONAL, "masked", "the transport's error; the channel's URL is masked out"
                ),
            }
        ),
    ),
    ModelEntry(
        "monitoring.MaintenanceWindow",
        ORG_MEMBERS + "; admins and owners change them; global: superusers",
        UNTIL_ORG,
        "organization export",
        "delete in the UI; with its rule or connection; organization deletion; user erasure unlinks "
        "the person",
        _f(
            {
                "id uuid rule connection starts_at ends_at created_at": OP,
                "organization": ORG_FK,
                "reason": FieldClass(CONTENT),
                "created_by": USER_FK,
            }
        ),
    ),
    # ------------------------------------------------------------------ monitoring: health, status, usage
    ModelEntry(
        "monitoring.Heartbeat",
        "superusers (/ops/health/)",
        "embedded default only (with Redis the table stays empty): rows of processes silent for ten "
        "heartbeat TTLs are deleted by health_tick",
        "never (platform data)",
        "not personal; expires",
        _f(
            {
                "id kind host pid key started_at last_seen": OP,
                "info": FieldClass(OPERATIONAL, note="versions and counters of the process"),
            }
        ),
    ),
    ModelEntry(
        "monitoring.ServerStatus",
        ORG_MEMBERS + " (global connections: every organization)",
        "one row per connection, updated in place, while the connection exists",
        "organization export",
        "with the connection; organization deletion",
        _f(
            {
                "id connection state since checked_at source latency_ms error_category": OP,
                "listing_hash tool_count consecutive_failures breaker_open": OP,
                "organization": ORG_FK,
                "error": FieldClass(OPERATIONAL, note="the last probe's error message, truncated"),
            }
        ),
    ),
    ModelEntry(
        "monitoring.StatusProbe",
        ORG_MEMBERS + " (global connections: every organization)",
        "STATUS_RAW_RETENTION_HOURS (default 48 hours)",
        "organization export",
        "expires; with the connection; organization deletion",
        _f(
            {
                "id connection at state source latency_ms error_category listing_hash": OP,
                "organization": ORG_FK,
                "error": FieldClass(OPERATIONAL, note="the probe's error message, truncated"),
            }
        ),
    ),
    ModelEntry(
        "monitoring.StatusHour",
        ORG_MEMBERS + " (global connections: every organization)",
        "35 days (uptime over 24 h, 7 and 30 days)",
        "organization export",
        "expires; with the connection; organization deletion",
        _f({"id connection hour probes up latency_ms_sum": OP, "organization": ORG_FK}),
    ),
    ModelEntry(
        "monitoring.UsageMinute",
        "members with usage:read; superusers (/ops/usage/)",
        "USAGE_MINUTE_RETENTION_HOURS (default 48 hours), deleted by the rollup",
        "organization export",
        "retention; organization deletion (counts name no person)",
        _f(
            {
                "id bucket method outcome error_type calls duration_us": OP,
                "h00 h01 h02 h03 h04 h05 h06 h07 h08 h09 h10 h11 h12 h13 h14 h15": OP,
                "organization": ORG_FK,
                "api_key_id": FieldClass(OPERATIONAL, note="the API key's id, not a foreign key"),
                "server target": FieldClass(
                    CONTENT, note="plain: server name and tool/prompt/resource name, grouped and filtered by"
                ),
            }
        ),
    ),
    ModelEntry(
        "monitoring.UsageHour",
        "members with usage:read; superusers (/ops/usage/)",
        "the 'usage_hours' retention class (USAGE_HOUR_RETENTION_DAYS, default 35 days; per "
        "organization, legal hold)",
        "organization export",
        "retention; organization deletion (counts name no person)",
        _f(
            {
                "id bucket method outcome error_type calls duration_us": OP,
                "h00 h01 h02 h03 h04 h05 h06 h07 h08 h09 h10 h11 h12 h13 h14 h15": OP,
                "organization": ORG_FK,
                "api_key_id": FieldClass(OPERATIONAL, note="the API key's id, not a foreign key"),
                "server target": FieldClass(
                    CONTENT, note="plain: server name and tool/prompt/resource name, grouped and filtered by"
                ),
            }
        ),
    ),
    ModelEntry(
        "monitoring.UsageDay",
        "members with usage:read; superusers (/ops/usage/)",
        "the 'usage_days' retention class (USAGE_DAY_RETENTION_DAYS, default 400 days; per "
        "organization, legal hold)",
        "organization export",
        "retention; organization deletion (counts name no person)",
        _f(
            {
                "id bucket method outcome error_type calls duration_us": OP,
                "h00 h01 h02 h03 h04 h05 h06 h07 h08 h09 h10 h11 h12 h13 h14 h15": OP,
                "organization": ORG_FK,
                "api_key_id": FieldClass(OPERATIONAL, note="the API key's id, not a foreign key"),
                "server target": FieldClass(
                    CONTENT, note="plain: server name and tool/prompt/resource name, grouped and filtered by"
                ),
            }
        ),
    ),
    # ------------------------------------------------------------------ load testing
    ModelEntry(
        "loadtest.LoadProfile",
        ORG_MEMBERS + "; admins and owners change them",
        UNTIL_ORG,
        "organization export",
        "delete in the UI; organization deletion; user erasure unlinks the person",
        _f(
            {
                "id name title schedule schedule_enabled last_scheduled_at created_at updated_at": OP,
                "organization": ORG_FK,
                "description source": FieldClass(
                    CONTENT, note="the profile YAML: operations, argument templates"
                ),
                "created_by": USER_FK,
            }
        ),
    ),
    ModelEntry(
        "loadtest.LoadRun",
        ORG_MEMBERS,
        "the 'load_runs' retention class (default 90 days, per organization, legal hold); baselines keep "
        "their run",
        "organization export",
        "retention; organization deletion; user erasure unlinks the person",
        _f(
            {
                "id uuid profile profile_name target status cancel_requested trigger raised_limits": OP,
                "shards_total shards_done report comparison verdict error": OP,
                "created_at started_at finished_at": OP,
                "organization": ORG_FK,
                "spec": FieldClass(
                    CONTENT, note="the profile as run (no credentials: keys are resolved per shard)"
                ),
                "created_by": USER_FK,
            }
        ),
    ),
    ModelEntry(
        "loadtest.LoadShard",
        ORG_MEMBERS,
        "with its run",
        "organization export",
        "with its run",
        _f(
            {
                "id run index phase status worker result error started_at finished_at": OP,
                "organization": ORG_FK,
                "spec": FieldClass(
                    SECRET, ENC, "the shard's load and endpoints, with the run's short-lived API keys"
                ),
            }
        ),
    ),
    ModelEntry(
        "loadtest.LoadBaseline",
        ORG_MEMBERS + "; admins and owners change them",
        UNTIL_ORG,
        "organization export",
        "delete in the UI; organization deletion; user erasure unlinks the person",
        _f({"id name profile_name target run created_at": OP, "organization": ORG_FK, "created_by": USER_FK}),
    ),
    # ------------------------------------------------------------------ Django and third-party apps
    ModelEntry(
        "auth.User",
        "the person; superusers; organization admins see username and email of members",
        "until the account is erased",
        "user export",
        "user erasure (pdsr)",
        _f(
            {
                "id last_login is_superuser is_staff is_active date_joined groups user_permissions": OP,
                "username first_name last_name email": FieldClass(
                    PERSONAL, note="plain: sign-in and lookups"
                ),
                "password": FieldClass(SECRET, HASHED, "Django's salted password hash"),
            }
        ),
    ),
    ModelEntry(
        "auth.Group",
        "superusers",
        "forever",
        "never",
        "Django admin",
        _f({"id name permissions": OP}),
    ),
    ModelEntry(
        "auth.Permission",
        "superusers",
        "forever",
        "never",
        "never",
        _f({"id name content_type codename": OP}),
    ),
    ModelEntry(
        "auth.Group_permissions", "superusers", "forever", "never", "never", _f({"id group permission": OP})
    ),
    ModelEntry(
        "auth.User_groups",
        "superusers",
        "with the user",
        "never",
        "user erasure",
        _f({"id group": OP, "user": USER_FK}),
    ),
    ModelEntry(
        "auth.User_user_permissions",
        "superusers",
        "with the user",
        "never",
        "user erasure",
        _f({"id permission": OP, "user": USER_FK}),
    ),
    ModelEntry(
        "admin.LogEntry",
        "superusers",
        "forever (Django admin history)",
        "never",
        "user erasure",
        _f(
            {
                "id action_time content_type object_id action_flag": OP,
                "user": USER_FK,
                "object_repr change_message": FieldClass(
                    PERSONAL, note="may name a person; plain (Django admin)"
                ),
            }
        ),
    ),
    ModelEntry(
        "contenttypes.ContentType",
        "the application",
        "forever",
        "never",
        "never",
        _f({"id app_label model": OP}),
    ),
    ModelEntry(
        "sessions.Session",
        "the application",
        "until expire_date (SESSION_COOKIE_AGE), cleared by clearsessions",
        "never",
        "sign-out; user erasure deletes the user's sessions",
        _f(
            {
                "session_key": FieldClass(SECRET, note="plain: the cookie value, looked up on every request"),
                "session_data": FieldClass(
                    PERSONAL, note="signed, not encrypted: user id, chosen organization"
                ),
                "expire_date": OP,
            }
        ),
    ),
    ModelEntry(
        "token_blacklist.OutstandingToken",
        "the application",
        "until expires_at (flushexpiredtokens)",
        "never",
        "user erasure",
        _f(
            {
                "id jti created_at expires_at": OP,
                "user": USER_FK,
                "token": FieldClass(SECRET, note="plain: simplejwt stores the refresh token to blacklist it"),
            }
        ),
    ),
    ModelEntry(
        "token_blacklist.BlacklistedToken",
        "the application",
        "until the token expires",
        "never",
        "with the outstanding token",
        _f({"id token blacklisted_at": OP}),
    ),
    ModelEntry(
        "authtoken.Token",
        "the application",
        "until deleted",
        "never",
        "user erasure",
        _f(
            {
                "key": FieldClass(
                    SECRET, note="plain: DRF token auth looks it up by value (not issued by the UI)"
                ),
                "user": USER_FK,
                "created": OP,
            }
        ),
    ),
    ModelEntry(
        "authtoken.TokenProxy",
        "the application",
        "proxy of authtoken.Token",
        "never",
        "user erasure",
        _f(
            {
                "key": FieldClass(SECRET, note="plain: same table as authtoken.Token"),
                "user": USER_FK,
                "created": OP,
            }
        ),
    ),
)

REDIS: tuple[RedisFamily, ...] = (
    RedisFamily(
        "omni:mcp:s:<session>",
        PERSONAL,
        "MCP session record: organization, credential id (API key prefix or user), protocol, client info, "
        "its log level and resource subscriptions (URIs)",
        "gateway processes",
        "idle timeout (MCP_SESSION_IDLE_SECONDS), deleted on DELETE /mcp",
        "session end; revoking the key ends its sessions; organization deletion (pdsr)",
    ),
    RedisFamily(
        "omni:mcp:ev:<session>:<stream>, omni:mcp:idx|hb|rq|get|lease:<session>",
        CONTENT,
        "resumable SSE event store: the JSON-RPC messages sent to the client (tool results)",
        "gateway processes (only the session's own credential may resume)",
        "bounded per stream; idle timeout",
        "with the session",
    ),
    RedisFamily(
        "omni:mcp:org:<org id>, omni:mcp:cred:<credential>, omni:mcp:open:*",
        OPERATIONAL,
        "sets of live session ids per organization and per credential; open-stream counters",
        "gateway processes",
        "idle timeout; swept",
        "with the sessions",
    ),
    RedisFamily(
        "omni:mcp:rsub:<sha256 of server and URI>",
        OPERATIONAL,
        "ids of the MCP sessions and listen streams subscribed to one resource of one server",
        "gateway processes",
        "a week, renewed by each subscription; dead sessions pruned when an update comes",
        "with the sessions (unsubscribe, session end)",
    ),
    RedisFamily(
        "omni:mcp:links:<org id>, omni:mcp:links:<org id>:order",
        CONTENT,
        "resource URIs that tools handed to the organization, with the server name and when",
        "gateway processes (resources/read of that organization)",
        "at most MCP_RESOURCE_LINKS_PER_ORG per organization, a week after the last one",
        "expires; organization deletion ends its use (the keys expire)",
    ),
    RedisFamily(
        "omni:ver:<name>",
        OPERATIONAL,
        "catalogue version counters (cache invalidation)",
        "web and worker processes",
        "forever (one integer each)",
        "not personal",
    ),
    RedisFamily(
        "omni:sig:nonce:<nonce>",
        OPERATIONAL,
        "replay protection for signed server requests",
        "MCP servers",
        "the signature's time window",
        "expires",
    ),
    RedisFamily(
        "omni:1:* counters of mcp:key:<credential>, mcp:org:<org id>, django-ratelimit groups (omni.*)",
        OPERATIONAL,
        "fixed-window counters per credential, organization and IP",
        "web processes",
        "the window (a minute)",
        "expires",
    ),
    RedisFamily(
        "omni:lockout:fail|lock:username:<sha256>, …:ip:<address>",
        PERSONAL,
        "sign-in failure counters: a hash of the username, the client IP",
        "web processes",
        "LOGIN_LOCKOUT window",
        "expires; `unlock` command",
    ),
    RedisFamily(
        "omni:audit:spool:<database>",
        PERSONAL,
        "audit events on their way to the database (actor, IP, target; tool arguments masked, "
        "and sealed unless the key was not yet cached in the process)",
        "the audit writer",
        "until written (seconds), then trimmed",
        "written to the audit table",
    ),
    RedisFamily(
        "omni:channels*",
        CONTENT,
        "Channels layer: playground websocket messages (run progress) in flight",
        "web processes",
        "seconds (channel expiry)",
        "expires",
    ),
    RedisFamily(
        "omni:1:* (Django cache), including omni:rl:org:<slug>",
        CONTENT,
        "cached catalogue listings of an organization (tool definitions); per-organization limit overrides",
        "web processes",
        "cache timeout; invalidated on change",
        "expires; invalidated when the organization changes",
    ),
    RedisFamily(
        "omni:health:hb:<kind>:<host>:<pid>, omni:health:tick",
        OPERATIONAL,
        "process heartbeats (kind, host, pid, versions, counters) and beat's last tick",
        "superusers (/ops/health/)",
        "HEALTH_HEARTBEAT_MISSES missed beats (TTL); deleted on a clean shutdown",
        "not personal; expires",
    ),
    RedisFamily(
        "omni:health:errors",
        PERSONAL,
        "the last ERROR log records of every process (logger, message, host): a message may name a "
        "person or a server",
        "superusers (/ops/health/)",
        "the last HEALTH_LAST_ERRORS entries (a list trimmed on every push)",
        "pushed out by newer errors",
    ),
    RedisFamily(
        "omni:usage:m:<epoch minute>, omni:usage:dirty",
        OPERATIONAL,
        "usage counters per minute and dimensions (organization id, API key id, server, target, method, "
        "outcome) between the flusher and the rollup",
        "worker processes (rollup)",
        "USAGE_REDIS_TTL_SECONDS (default 6 hours)",
        "expires; names no person",
    ),
    RedisFamily(
        "omni:breaker:<connection id>, omni:breaker:<connection id>:trial",
        OPERATIONAL,
        "circuit breaker state per server connection (failures, when it opened; the half-open trial)",
        "gateway processes",
        "ten cool-downs (at least 10 minutes); the trial: one cool-down",
        "expires",
    ),
    RedisFamily(
        "celery, _kombu.*, unacked* (Celery broker)",
        OPERATIONAL,
        "task messages: ids of rows to work on, never payloads",
        "worker processes",
        "until consumed",
        "consumed",
    ),
)


def model_map() -> dict[str, ModelEntry]:
    return {entry.label: entry for entry in MODELS}


def encrypted_fields() -> list[tuple[str, str]]:
    """(model label, field name) of every field the inventory marks ``encrypted:org``."""
    return [(e.label, name) for e in MODELS for name, c in e.fields.items() if c.protection == ENC]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """The inventory section of docs/privacy.md (between its BEGIN/END INVENTORY markers)."""
    lines = ["### Database", ""]
    for entry in MODELS:
        lines += [
            f"#### `{entry.label}`",
            "",
            f"Readers: {_cell(entry.readers)}. Kept: {_cell(entry.retention)}. "
            f"Export: {_cell(entry.export)}. Erasure: {_cell(entry.erasure)}.",
            "",
            "| field | class | stored | note |",
            "| --- | --- | --- | --- |",
        ]
        lines += [f"| `{n}` | {c.kind} | {c.protection} | {_cell(c.note)} |" for n, c in entry.fields.items()]
        lines.append("")
    lines += [
        "### Redis key families",
        "",
        "| keys | class | what | readers | kept | erasure |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| `{_cell(r.pattern)}` | {r.kind} | {_cell(r.content)} | {_cell(r.readers)} | "
        f"{_cell(r.retention)} | {_cell(r.erasure)} |"
        for r in REDIS
    ]
    return "\n".join(lines) + "\n"
