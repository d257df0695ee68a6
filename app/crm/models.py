"""The four CRM records (customer, activity, opportunity, contract) and their configuration:
pipeline stages, admin-defined custom fields, the owner-assignment log, the records' change
history and CSV imports."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (Boolean, Column, Date, ForeignKey, Index, Integer, Numeric, String, Table, Text,
                        UniqueConstraint, false, true)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from app.auth.models import User
from app.db import JSONType, UTCDateTime, VersionedMixin, utcnow
from app.extensions import db

ENTITIES = ("customer", "activity", "opportunity", "contract")
CUSTOMER_CLASSES = ("A", "B", "C")
REPORT_STATUSES = ("none", "pending", "approved", "rejected")
# A contract's approval (合同审批) goes through the same states as a customer's report.
APPROVAL_STATUSES = REPORT_STATUSES
ACTIVITY_KINDS = ("call", "visit", "email", "other")
OPPORTUNITY_STATUSES = ("open", "won", "lost")
CONTRACT_STATUSES = ("draft", "signed", "expired", "cancelled")
CUSTOM_FIELD_TYPES = ("text", "number", "date", "choice")

MONEY = Numeric(18, 2)


def _share_table(name: str, table: str) -> Table:
    """``<entity>_shares``: the users a record is shared with (共享)."""
    return Table(
        f"{name}_shares",
        db.metadata,
        Column("record_id", ForeignKey(f"{table}.id", ondelete="CASCADE"), primary_key=True),
        Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
    )


customer_shares = _share_table("customer", "customers")
activity_shares = _share_table("activity", "activities")
opportunity_shares = _share_table("opportunity", "opportunities")
contract_shares = _share_table("contract", "contracts")


class OwnedRecord(VersionedMixin):
    """Owner (负责人), sharing (共享) and custom fields, common to the four records."""

    entity: str  # "customer", ...
    shares: Table

    @declared_attr
    def owner_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)

    @declared_attr
    def owner(cls) -> Mapped[User]:
        return relationship(User, lazy="joined", foreign_keys=lambda: [cls.owner_id])

    @declared_attr
    def shared_with(cls) -> Mapped[list[User]]:
        return relationship(User, secondary=cls.shares, lazy="selectin", order_by=User.username)

    @declared_attr
    def custom(cls) -> Mapped[dict]:
        return mapped_column(JSONType, nullable=False, default=dict)

    @property
    def owner_username(self) -> str | None:
        return self.owner.username if self.owner else None

    @property
    def shared_usernames(self) -> list[str]:
        return sorted(u.username for u in self.shared_with)

    @property
    def label(self) -> str:
        return getattr(self, "name", None) or getattr(self, "title", None) or f"#{self.id}"


# A deleted record's id is never given to another (SQLite otherwise reuses the highest): its
# change history, rule ledger and logs stay its own (migration 0033).
NO_ID_REUSE = {"sqlite_autoincrement": True}


class Customer(OwnedRecord, db.Model):
    __tablename__ = "customers"
    entity = "customer"
    shares = customer_shares
    __table_args__ = (
        Index("ix_customers_owner_updated", "owner_id", "updated_at"),
        Index("ix_customers_updated_at", "updated_at"),
        Index("ix_customers_name", "name"),
        Index("ix_customers_name_key", "name_key"),
        Index("ix_customers_credit_code", "credit_code"),
        Index("ix_customers_phone", "phone"),
        Index("ix_customers_phone_key", "phone_key"),
        NO_ID_REUSE,
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The name without company suffixes and spaces, for the duplicate finder (防撞单).
    name_key: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    province: Mapped[str | None] = mapped_column(String(50))
    city: Mapped[str | None] = mapped_column(String(50))
    industry: Mapped[str | None] = mapped_column(String(80))
    registered_capital: Mapped[Decimal | None] = mapped_column(MONEY)
    customer_class: Mapped[str | None] = mapped_column(String(1))
    source: Mapped[str | None] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(40))
    # The phone's digits as dialled in China (no spacing, extension or +86), for the duplicate finder.
    phone_key: Mapped[str] = mapped_column(String(20), nullable=False, default="", server_default="")
    credit_code: Mapped[str | None] = mapped_column(String(40))
    # Set only by the customer-report workflow (services.set_review_status), never by the API.
    report_status: Mapped[str] = mapped_column(String(16), nullable=False, default="none")


class Activity(OwnedRecord, db.Model):
    __tablename__ = "activities"
    entity = "activity"
    shares = activity_shares
    __table_args__ = (
        Index("ix_activities_owner_updated", "owner_id", "updated_at"),
        Index("ix_activities_customer_happened", "customer_id", "happened_at"),
        Index("ix_activities_next_follow_up", "next_follow_up"),
        NO_ID_REUSE,
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="call")
    content: Mapped[str] = mapped_column(Text, nullable=False, default="")
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    next_follow_up: Mapped[date | None] = mapped_column(Date)

    customer: Mapped[Customer] = relationship(lazy="joined")

    @property
    def label(self) -> str:
        content = " ".join((self.content or "").split())  # a note's first words, on one line
        return (content[:39].rstrip() + "…" if len(content) > 40 else content) or f"#{self.id}"


class Opportunity(OwnedRecord, db.Model):
    __tablename__ = "opportunities"
    entity = "opportunity"
    shares = opportunity_shares
    __table_args__ = (
        Index("ix_opportunities_owner_updated", "owner_id", "updated_at"),
        Index("ix_opportunities_customer", "customer_id"),
        Index("ix_opportunities_status_stage", "status", "stage"),
        NO_ID_REUSE,
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    stage: Mapped[str] = mapped_column(String(40), nullable=False)
    expected_close: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="open")
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lost_reason: Mapped[str | None] = mapped_column(String(500))

    customer: Mapped[Customer] = relationship(lazy="joined")


class Contract(OwnedRecord, db.Model):
    __tablename__ = "contracts"
    entity = "contract"
    shares = contract_shares
    __table_args__ = (
        Index("ix_contracts_owner_updated", "owner_id", "updated_at"),
        Index("ix_contracts_customer", "customer_id"),
        Index("ix_contracts_expires_on", "expires_on"),
        NO_ID_REUSE,
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    signed_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    # Set only by the contract-approval workflow (services.set_review_status), never by the API.
    approval_status: Mapped[str] = mapped_column(String(16), nullable=False, default="none", server_default="none")
    invoice_title: Mapped[str | None] = mapped_column(String(200))
    invoice_tax_number: Mapped[str | None] = mapped_column(String(40))
    invoice_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    invoice_date: Mapped[date | None] = mapped_column(Date)
    # Who signed it: its owner when it was marked signed. The sales report credits them, not
    # whoever owns it since (a customer handed on, a leaver's contracts kept for renewal).
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    customer: Mapped[Customer] = relationship(lazy="joined")
    opportunity: Mapped[Opportunity | None] = relationship(lazy="joined")


MODELS: dict[str, type[OwnedRecord]] = {
    "customer": Customer, "activity": Activity, "opportunity": Opportunity, "contract": Contract,
}


class Stage(VersionedMixin, db.Model):
    """A pipeline stage (销售漏斗) of opportunities; data, so an admin can rename and reorder."""

    __tablename__ = "pipeline_stages"

    key: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Opportunity fields ("amount", "custom.budget" ...) that must be filled to enter the stage.
    required_fields: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)


class CustomFieldDef(VersionedMixin, db.Model):
    """An admin-defined field of one record type, stored in the record's ``custom`` object."""

    __tablename__ = "custom_field_defs"
    __table_args__ = (UniqueConstraint("entity", "key", name="uq_custom_field_defs_entity_key"),)

    entity: Mapped[str] = mapped_column(String(20), nullable=False)
    key: Mapped[str] = mapped_column(String(40), nullable=False)
    label: Mapped[str] = mapped_column(String(120), nullable=False)
    type: Mapped[str] = mapped_column(String(10), nullable=False, default="text")
    choices: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Set by automation rules and processes only (an approval's outcome): read-only to people.
    automated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())


class AssignmentLog(db.Model):
    """Who got which record, from whom, by whom and why (分配日志). Insert-only."""

    __tablename__ = "crm_assignment_log"
    __table_args__ = (Index("ix_crm_assignment_log_record", "entity", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    entity: Mapped[str] = mapped_column(String(20), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    record_label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(200), nullable=False, default="")

    from_user: Mapped[User | None] = relationship(foreign_keys=[from_user_id], lazy="joined")
    to_user: Mapped[User | None] = relationship(foreign_keys=[to_user_id], lazy="joined")
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="joined")


class RecordChange(db.Model):
    """The field changes of one event of a record (变更记录): who changed which fields, from what
    to what. Insert-only, and kept when the record is deleted (no foreign key to it)."""

    __tablename__ = "record_changes"
    __table_args__ = (Index("ix_record_changes_record", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    entity: Mapped[str] = mapped_column(String(20), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    # None: the system (a rule, the worker, a process step without a person).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(80), nullable=False, default="")  # outlives the user
    event: Mapped[str] = mapped_column(String(16), nullable=False)  # created, updated, deleted
    changes: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)  # {field: [old, new]}
    # What acted besides the person (app.events.caused_by): "rule:<name>", "process:<instance id>".
    cause: Mapped[str] = mapped_column(String(250), nullable=False, default="", server_default="")

    actor: Mapped[User | None] = relationship(lazy="joined")


class CustomerImport(db.Model):
    """One CSV import: the file, its progress and the per-row errors (polled by the page)."""

    __tablename__ = "crm_customer_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    filename: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending/running/done/failed
    total_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    imported_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # new customers
    updated_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")  # rows with an id, changed
    unchanged_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")  # rows with an id, as stored
    # False: an admin loading existing data, where rules and workflows (e.g. a report for each
    # customer) must not run; the customers' change history still records the import.
    automate: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=true())
    errors: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    # None: a column naming no customer field refuses the file. A list: the importer chose to
    # leave such columns out, and these are the ones left out (备注, 联系人 ...).
    left_out_columns: Mapped[list | None] = mapped_column(JSONType)
    # The refused rows as the file had them, {"header": [...], "rows": [[row number, cells], ...]}:
    # downloaded to be corrected and imported again. None: every row went in.
    failed_rows_file: Mapped[dict | None] = mapped_column(JSONType)
    # The file itself until it has been processed; emptied afterwards.
    content: Mapped[str] = mapped_column(Text, nullable=False, default="")

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def failed_rows(self) -> int:
        return self.processed_rows - self.imported_rows - self.updated_rows - self.unchanged_rows
