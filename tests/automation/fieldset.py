"""Field metadata shaped like API.md's CRM records, for the pure tests of conditions and
validation (the integration tests use the catalog built from the real CRM models)."""
from app.automation.fields import CHOICE, DATE, DATETIME, NUMBER, TEXT, USER, EntitySpec, FieldSpec
from app.automation.validation import Catalog


def entity(name, *fields, extra_events=()):
    return EntitySpec(name, name, {f.name: f for f in fields}, extra_events)


CUSTOMER = entity(
    "customer",
    FieldSpec("name", TEXT, required=True), FieldSpec("province", TEXT), FieldSpec("industry", TEXT),
    FieldSpec("registered_capital", NUMBER), FieldSpec("customer_class", CHOICE, choices=("A", "B", "C")),
    FieldSpec("owner", USER), FieldSpec("founded_on", DATE), FieldSpec("updated_at", DATETIME, writable=False),
)
CONTRACT = entity(
    "contract",
    FieldSpec("title", TEXT, required=True), FieldSpec("amount", NUMBER), FieldSpec("expires_on", DATE),
    FieldSpec("customer_id", NUMBER, required=True, writable=True), FieldSpec("owner", USER),
)
OPPORTUNITY = entity(
    "opportunity", FieldSpec("title", TEXT, required=True), FieldSpec("amount", NUMBER), FieldSpec("stage", TEXT),
    FieldSpec("updated_at", DATETIME, writable=False), FieldSpec("customer_id", NUMBER, required=True),
    extra_events=("stage_changed", "won", "lost"),
)

USERS = {"sales1", "sales2", "manager"}
GROUPS = {"sales", "fujian-sales"}


def catalog(**overrides):
    options = dict(entities={"customer": CUSTOMER, "contract": CONTRACT, "opportunity": OPPORTUNITY},
                   user_exists=USERS.__contains__, group_exists=GROUPS.__contains__,
                   process_known=lambda key: key == "customer_report",
                   auto_links=lambda source, target: {"customer_id", "opportunity_id", "owner"})
    options.update(overrides)
    return Catalog(**options)
