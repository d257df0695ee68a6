"""API shapes of the CRM records (API.md "CRM records").

Input schemas check JSON types; the services check meaning (required, choices, visible
customers, custom fields) and name every bad field. ``id``, ``created_at``, ``updated_at``
and the read-only statuses (``report_status``, ``approval_status``) are accepted so a client
may send back what it read.
"""
from datetime import date, datetime

from apiflask import Schema
from flask_babel import gettext as _
from marshmallow import INCLUDE, ValidationError
from marshmallow.fields import Field
from apiflask.fields import Boolean, Date, DateTime, Dict, Float, Integer, List, Nested, Raw, String
from apiflask.validators import OneOf

from app.api.frame import QueryParameters, SearchQuery
from app.crm.models import (ACTIVITY_KINDS, APPROVAL_STATUSES, CONTRACT_STATUSES, CUSTOMER_CLASSES,
                            OPPORTUNITY_STATUSES, REPORT_STATUSES)


class _RecordOut(Schema):
    id = Integer()
    created_at = DateTime()
    updated_at = DateTime()
    version = Integer()
    owner = String(attribute="owner_username")
    shared_with = List(String(), attribute="shared_usernames")
    custom = Dict()


class _RecordIn(Schema):
    class Meta:
        # Unknown keys reach the service, which reports them with every other bad field.
        unknown = INCLUDE

    owner = String(allow_none=True)
    shared_with = List(String(), allow_none=True)
    custom = Dict(allow_none=True)
    version = Integer(strict=True)  # 1.5 is no version: refused, not cut to 1
    id = Raw(allow_none=True)
    created_at = Raw(allow_none=True)
    updated_at = Raw(allow_none=True)


class PossibleDuplicateOut(Schema):
    name = String()
    owner = String(allow_none=True)
    owner_name = String(allow_none=True)
    reasons = List(String(metadata={"enum": ["same_name", "similar_name", "same_credit_code", "same_phone"]}))


class CustomerOut(_RecordOut):
    possible_duplicates = List(Nested(PossibleDuplicateOut), metadata={"description": (
        "only in the answer to a create: customers this one may duplicate (防撞单; someone else's, or the "
        "same company entered before), as the page warns; the approver of its report sees them too")})
    name = String()
    province = String(allow_none=True)
    city = String(allow_none=True)
    industry = String(allow_none=True)
    registered_capital = Float(allow_none=True)
    customer_class = String(allow_none=True)
    source = String(allow_none=True)
    phone = String(allow_none=True)
    credit_code = String(allow_none=True)
    report_status = String(metadata={"enum": list(REPORT_STATUSES), "readOnly": True})


class CustomerIn(_RecordIn):
    name = String(allow_none=True)
    province = String(allow_none=True)
    city = String(allow_none=True)
    industry = String(allow_none=True)
    registered_capital = Raw(allow_none=True, metadata={"type": "number"})
    customer_class = String(allow_none=True, metadata={"enum": list(CUSTOMER_CLASSES)})
    source = String(allow_none=True)
    phone = String(allow_none=True)
    credit_code = String(allow_none=True, metadata={"description": (
        "unified social credit code (统一社会信用代码), 18 characters with a valid check character; stored "
        "in capitals without spacing. A stored code in an older format is kept when sent back unchanged.")})
    report_status = Raw(metadata={"readOnly": True, "description": "read-only; set by the customer report"})


class ActivityOut(_RecordOut):
    customer_id = Integer()
    kind = String()
    content = String()
    happened_at = DateTime()
    next_follow_up = Date(allow_none=True)


class ActivityIn(_RecordIn):
    customer_id = Integer(allow_none=True, strict=True)  # 9.5 is refused, not cut to 9
    kind = String(allow_none=True, metadata={"enum": list(ACTIVITY_KINDS)})
    content = String(allow_none=True)
    happened_at = Raw(allow_none=True, metadata={"type": "string", "format": "date-time"})
    next_follow_up = Raw(allow_none=True, metadata={"type": "string", "format": "date"})


class OpportunityOut(_RecordOut):
    customer_id = Integer()
    title = String()
    amount = Float(allow_none=True)
    stage = String()
    expected_close = Date(allow_none=True)
    status = String()
    stage_entered_at = DateTime()
    closed_at = DateTime(allow_none=True)
    lost_reason = String(allow_none=True)


class OpportunityIn(_RecordIn):
    customer_id = Integer(allow_none=True, strict=True)
    title = String(allow_none=True)
    amount = Raw(allow_none=True, metadata={"type": "number"})
    stage = String(allow_none=True)
    expected_close = Raw(allow_none=True, metadata={"type": "string", "format": "date"})
    status = String(allow_none=True, metadata={"enum": list(OPPORTUNITY_STATUSES)})
    lost_reason = String(allow_none=True)
    stage_entered_at = Raw(allow_none=True)
    closed_at = Raw(allow_none=True)


class ContractOut(_RecordOut):
    customer_id = Integer()
    opportunity_id = Integer(allow_none=True)
    title = String()
    amount = Float(allow_none=True)
    signed_on = Date(allow_none=True)
    expires_on = Date(allow_none=True)
    status = String()
    invoice_title = String(allow_none=True)
    invoice_tax_number = String(allow_none=True)
    invoice_amount = Float(allow_none=True)
    invoice_date = Date(allow_none=True)
    approval_status = String(metadata={"enum": list(APPROVAL_STATUSES), "readOnly": True})


class ContractIn(_RecordIn):
    customer_id = Integer(allow_none=True, strict=True)
    opportunity_id = Integer(allow_none=True, strict=True)
    title = String(allow_none=True)
    amount = Raw(allow_none=True, metadata={"type": "number"})
    signed_on = Raw(allow_none=True, metadata={"type": "string", "format": "date"})
    expires_on = Raw(allow_none=True, metadata={"type": "string", "format": "date"})
    status = String(allow_none=True, metadata={"enum": list(CONTRACT_STATUSES)})
    invoice_title = String(allow_none=True)
    invoice_tax_number = String(allow_none=True)
    invoice_amount = Raw(allow_none=True, metadata={"type": "number"})
    invoice_date = Raw(allow_none=True, metadata={"type": "string", "format": "date"})
    approval_status = Raw(metadata={"readOnly": True, "description": "read-only; set by the contract approval"})


class DayOrMoment(Field):
    """A filter bound on a time: a date is the whole company day ("before 2026-11-30" includes
    the 30th to 23:59), a date-time the moment. Read as a date-time, the 30th was lost."""

    def __init__(self, **kwargs):
        super().__init__(load_default=None, metadata={"type": "string", "description": "YYYY-MM-DD (the whole day "
                                                      "in company time) or an ISO 8601 date-time"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).strip()
        try:
            when = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(_("Not a date (YYYY-MM-DD) nor a date and time (ISO 8601).")) from None
        if not 1900 <= when.year <= 2999:  # year 1 in company time is before the first UTC instant: a 500
            raise ValidationError(_("Choose a time between the years 1900 and 2999."))
        return when


class _ListQuery(SearchQuery):
    owner = String(load_default=None)
    shared_with = String(load_default=None)
    sort = String(load_default=None)
    # A nightly sync asks for what changed since its last run (sort=updated_at, then carry on
    # from the newest updated_at it saw), not for every record again.
    updated_at_after = DayOrMoment()


class CustomerQuery(_ListQuery):
    province = String(load_default=None)
    city = String(load_default=None)
    industry = String(load_default=None)
    customer_class = String(load_default=None, validate=OneOf(CUSTOMER_CLASSES))
    source = String(load_default=None)
    report_status = String(load_default=None, validate=OneOf(REPORT_STATUSES))
    credit_code = String(load_default=None)
    phone = String(load_default=None)
    registered_capital_min = Float(load_default=None)
    registered_capital_max = Float(load_default=None)


class CustomerExportQuery(CustomerQuery):
    class Meta:
        exclude = ("page", "per_page")  # the whole list, in the list's order: a page would be refused, not ignored

    # Keys by default: what API clients have always been sent. The list page asks for labels.
    headers = String(load_default="keys", validate=OneOf(("keys", "labels")),
                     metadata={"description": "Header row: field keys (default) or labels in the caller's language"})


class ActivityQuery(_ListQuery):
    customer_id = Integer(load_default=None)
    kind = String(load_default=None, validate=OneOf(ACTIVITY_KINDS))
    happened_at_after = DayOrMoment()
    happened_at_before = DayOrMoment()
    next_follow_up_before = Date(load_default=None)


class OpportunityQuery(_ListQuery):
    customer_id = Integer(load_default=None)
    stage = String(load_default=None)
    status = String(load_default=None, validate=OneOf(OPPORTUNITY_STATUSES))
    amount_min = Float(load_default=None)
    amount_max = Float(load_default=None)
    expected_close_before = Date(load_default=None)
    expected_close_after = Date(load_default=None)
    closed_at_after = DayOrMoment()  # who won what in November
    closed_at_before = DayOrMoment()


class ContractQuery(_ListQuery):
    customer_id = Integer(load_default=None)
    opportunity_id = Integer(load_default=None)
    status = String(load_default=None, validate=OneOf(CONTRACT_STATUSES))
    approval_status = String(load_default=None, validate=OneOf(APPROVAL_STATUSES))
    expires_on_before = Date(load_default=None)
    expires_on_after = Date(load_default=None)
    signed_on_after = Date(load_default=None)
    signed_on_before = Date(load_default=None)


class StageMove(Schema):
    stage = String(required=True)
    version = Integer()


class LostIn(Schema):
    reason = String(load_default=None, allow_none=True)
    version = Integer()
    closed_at = Raw(load_default=None, metadata={"type": "string", "format": "date-time",
                                                 "description": "When it was lost; now if not given"})


class WonIn(Schema):
    version = Integer()
    closed_at = Raw(load_default=None, metadata={"type": "string", "format": "date-time",
                                                 "description": "When it was won (an ERP's late win); now if not given"})


class VersionQuery(QueryParameters):
    version = Integer(load_default=None)


class StageOut(Schema):
    key = String()
    name = String()
    order = Integer(attribute="position")
    required_fields = List(String())


class StagesOut(Schema):
    items = List(Nested(StageOut))


class ImportOut(Schema):
    id = Integer()
    status = String()
    filename = String()
    total_rows = Integer()
    processed_rows = Integer()
    imported_rows = Integer(metadata={"description": "new customers"})
    updated_rows = Integer(metadata={"description": "rows with an id whose customer changed"})
    unchanged_rows = Integer(metadata={"description": "rows with an id whose customer already held these values"})
    failed_rows = Integer(metadata={"description": "rows not imported: see errors"})
    automate = Boolean(metadata={"description": "false: rules and workflows did not run (an admin loading data)"})
    errors = List(Dict())
    left_out_columns = List(String(), allow_none=True, metadata={
        "description": "the columns naming no customer field, left out as asked; null: none may be"})
    created_at = DateTime()
    finished_at = DateTime(allow_none=True)


class FieldChangeOut(Schema):
    field = String(metadata={"description": "field key; custom fields as custom.<key>"})
    label = String()
    old = Raw(allow_none=True, metadata={"description": "as the record's API shape has it (owner: username)"})
    new = Raw(allow_none=True)
    old_text = String(metadata={"description": "as people read it: choice labels, names, formatted amounts"})
    new_text = String()


class RecordChangeOut(Schema):
    id = Integer()
    at = DateTime()
    event = String(metadata={"enum": ["created", "updated", "deleted"]})
    actor = String(allow_none=True, metadata={"description": "username; null for the system"})
    actor_name = String()
    cause = String(allow_none=True, metadata={"description": "what acted besides the person: rule:<name>, "
                                                            "process:<instance id>; null for a person's own edit"})
    cause_text = String(metadata={"description": "the cause in the reader's language, \"\" for none"})
    changes = List(Nested(FieldChangeOut))
