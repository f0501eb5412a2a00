"""The warehouse data contract of DESIGN §3: tables, columns and their BigQuery types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One contract column: name, BigQuery type, whether it must exist and may be NULL."""

    name: str
    type: str  # BigQuery type: STRING, INT64, FLOAT64, BOOL, DATE, TIMESTAMP
    required: bool = True  # the column must exist
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """One contract table: its columns, key and whether it must exist."""

    name: str
    columns: tuple[Column, ...]
    key: str | None
    required: bool = True  # the table must exist (events and reviews may be absent)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _c(name: str, type_: str, nullable: bool = True, required: bool = True) -> Column:
    return Column(name, type_, required=required, nullable=nullable)


CUSTOMERS = Table(
    "customers",
    (
        _c("customer_id", "STRING", nullable=False),
        _c("signup_date", "DATE"),
        _c("birth_year", "INT64"),
        _c("gender", "STRING"),
        _c("region", "STRING"),
        _c("loyalty_tier", "STRING"),
        # consent_<channel> columns are optional: a missing one means "no consent recorded".
        _c("consent_email", "BOOL", required=False),
        _c("consent_push", "BOOL", required=False),
        _c("consent_sms", "BOOL", required=False),
        _c("updated_at", "TIMESTAMP"),
    ),
    key="customer_id",
)

EVENTS = Table(
    "events",
    (
        _c("event_id", "STRING", nullable=False),
        _c("customer_id", "STRING", nullable=False),
        _c("event_ts", "TIMESTAMP", nullable=False),
        _c("event_type", "STRING", nullable=False),
        _c("product_category", "STRING"),
        _c("amount", "FLOAT64"),
        _c("device", "STRING"),
    ),
    key="event_id",
    required=False,
)

MESSAGES = Table(
    "messages",
    (
        _c("message_id", "STRING", nullable=False),
        _c("campaign_id", "STRING"),
        _c("title", "STRING"),
        _c("body", "STRING"),
        _c("offer_type", "STRING"),
        _c("discount_pct", "FLOAT64"),
        _c("product_category", "STRING"),
        _c("image_uri", "STRING"),
        _c("active_from", "DATE"),
        _c("active_to", "DATE"),
    ),
    key="message_id",
)

SENDS = Table(
    "sends",
    (
        _c("send_id", "STRING", nullable=False),
        _c("customer_id", "STRING", nullable=False),
        _c("message_id", "STRING"),
        _c("channel", "STRING", nullable=False),
        _c("sent_at", "TIMESTAMP", nullable=False),
        _c("propensity", "FLOAT64"),
        _c("opened", "BOOL"),
        _c("clicked", "BOOL"),
        _c("converted", "BOOL"),
        _c("revenue", "FLOAT64"),
    ),
    key="send_id",
)

REVIEWS = Table(
    "reviews",
    (
        _c("review_id", "STRING", nullable=False),
        _c("customer_id", "STRING", nullable=False),
        _c("created_at", "TIMESTAMP"),
        _c("rating", "INT64"),
        _c("text", "STRING"),
    ),
    key="review_id",
    required=False,
)

INPUT_TABLES: dict[str, Table] = {t.name: t for t in (CUSTOMERS, EVENTS, MESSAGES, SENDS, REVIEWS)}

EVENT_TYPES = (
    "view",
    "search",
    "add_to_cart",
    "purchase",
    "app_open",
    "email_open",
    "email_click",
    "push_open",
    "unsubscribe",
)
OFFER_TYPES = ("discount", "free_shipping", "new_arrival", "loyalty_points", "content")
LOYALTY_TIERS = ("none", "silver", "gold", "platinum")
DEVICES = ("web", "app", "store")
HOLDOUT_CHANNEL = "none"

# ---- outputs written by Herald --------------------------------------------------------
# decisions and customer_segments hold published scoring runs only, one per logical date: shards
# write to the *_staging twins and pipelines/scoring/publish.py swaps a whole run in at once.
DECISION_COLUMNS = (
    _c("logical_date", "DATE", nullable=False),
    _c("run_id", "STRING", nullable=False),
    _c("shard", "INT64", nullable=False),
    _c("decided_at", "TIMESTAMP", nullable=False),
    _c("customer_id", "STRING", nullable=False),
    _c("message_id", "STRING"),
    _c("channel", "STRING"),
    _c("send_hour", "INT64"),
    _c("p_response", "FLOAT64"),
    _c("uplift", "FLOAT64"),
    _c("propensity", "FLOAT64"),
    _c("policy", "STRING"),
    _c("reason", "STRING"),
    _c("model_name", "STRING"),
    _c("model_version", "STRING"),
)
DECISIONS = Table("decisions", DECISION_COLUMNS, key=None)
DECISIONS_STAGING = Table("decisions_staging", DECISION_COLUMNS, key=None)

MONITORING_METRICS = Table(
    "monitoring_metrics",
    (
        _c("run_id", "STRING", nullable=False),
        _c("computed_at", "TIMESTAMP", nullable=False),
        _c("kind", "STRING", nullable=False),
        _c("subject", "STRING"),
        _c("metric", "STRING", nullable=False),
        _c("value", "FLOAT64"),
        _c("threshold", "FLOAT64"),
        _c("breached", "BOOL"),
    ),
    key=None,
)

SEGMENT_COLUMNS = (
    _c("logical_date", "DATE", nullable=False),
    _c("run_id", "STRING", nullable=False),
    _c("customer_id", "STRING", nullable=False),
    _c("segment", "INT64"),
)
CUSTOMER_SEGMENTS = Table("customer_segments", SEGMENT_COLUMNS, key=None)
CUSTOMER_SEGMENTS_STAGING = Table("customer_segments_staging", SEGMENT_COLUMNS, key=None)

# The ledger of scoring runs: one row per run id; at most one 'complete' run per logical date.
SCORING_RUNS = Table(
    "scoring_runs",
    (
        _c("logical_date", "DATE", nullable=False),
        _c("run_id", "STRING", nullable=False),
        _c("status", "STRING", nullable=False),  # running, complete, replaced, failed
        _c("started_at", "TIMESTAMP", nullable=False),
        _c("published_at", "TIMESTAMP"),
        _c("as_of", "TIMESTAMP"),
        _c("customers", "INT64"),
        _c("decisions", "INT64"),
        _c("messages_sent", "INT64"),
        _c("segments", "INT64"),
        _c("shards", "INT64"),
        _c("model_name", "STRING"),
        _c("model_version", "STRING"),
        _c("note", "STRING"),
    ),
    key="run_id",
)

REJECTED_ROWS = Table(
    "rejected_rows",
    (
        _c("run_id", "STRING", nullable=False),
        _c("table_name", "STRING", nullable=False),
        _c("row_number", "INT64", nullable=False),  # position in the run's extract
        _c("row_key", "STRING"),  # the table's key value (NULL when the key itself is missing)
        _c("rule", "STRING", nullable=False),  # every rule the row broke, comma-separated
        _c("reason", "STRING"),  # the broken rules in words, with the offending values
        _c("row_json", "STRING"),
        _c("rejected_at", "TIMESTAMP", nullable=False),
    ),
    key=None,
)

MODEL_PROMOTIONS = Table(
    "model_promotions",
    (
        _c("run_id", "STRING", nullable=False),
        _c("decided_at", "TIMESTAMP", nullable=False),
        _c("model_name", "STRING", nullable=False),
        _c("version", "STRING", nullable=False),
        _c("alias", "STRING"),
        _c("previous_champion_version", "STRING"),
        _c("promoted", "BOOL"),
        _c("actor", "STRING"),
        _c("reason", "STRING"),
        _c("metrics", "STRING"),
    ),
    key=None,
)

# Customers who asked to be forgotten (`herald forget`): every extract leaves them out, and whatever
# Herald wrote about them is erased. The id stays here only so that later extracts can exclude it.
SUPPRESSED_CUSTOMERS = Table(
    "suppressed_customers",
    (
        _c("customer_id", "STRING", nullable=False),
        _c("requested_at", "TIMESTAMP", nullable=False),
        _c("request_id", "STRING", nullable=False),
        _c("actor", "STRING"),
    ),
    key=None,
)

# Per decision, what the policy saw (top candidates, rules, settings), for `herald explain-decision`.
DECISION_TRACES = Table(
    "decision_traces",
    (
        _c("run_id", "STRING", nullable=False),
        _c("shard", "INT64", nullable=False),
        _c("customer_id", "STRING", nullable=False),
        _c("trace_json", "STRING"),
    ),
    key=None,
)

OUTPUT_TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        DECISIONS,
        DECISIONS_STAGING,
        SCORING_RUNS,
        MONITORING_METRICS,
        CUSTOMER_SEGMENTS,
        CUSTOMER_SEGMENTS_STAGING,
        REJECTED_ROWS,
        MODEL_PROMOTIONS,
        SUPPRESSED_CUSTOMERS,
        DECISION_TRACES,
    )
}
