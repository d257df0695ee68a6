"""Inputs of the report API: period and process filters, time-saved settings."""
from apiflask import Schema
from apiflask.fields import Date, Float, Integer, List, Nested, String
from apiflask.validators import Length, Range

from app.api.frame import QueryParameters


class PeriodQuery(QueryParameters):
    # Local dates (the company's time zone), both included; default: the last twelve weeks.
    from_ = Date(data_key="from", load_default=None)
    to = Date(load_default=None)


class ProcessReportQuery(PeriodQuery):
    version = Integer(load_default=None, validate=Range(min=1))


class PeopleReportQuery(PeriodQuery):
    process = String(load_default=None, validate=Length(max=120))


class ActionMinutesIn(Schema):
    index = Integer(required=True, validate=Range(min=0, max=1000))
    minutes = Float(required=True, validate=Range(min=0, max=24 * 60))


class RuleMinutesIn(Schema):
    settings = List(Nested(ActionMinutesIn), required=True, validate=Length(max=100))
