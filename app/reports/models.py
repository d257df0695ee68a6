"""The reports' own table and the indexes they add to the engine's tables.

``report_action_minutes``: how many minutes a person would spend doing one action of a rule
by hand (the "time saved" setting). Keyed by rule and action index; the action type is kept
so a setting stops counting when the rule's action at that index becomes another action.

Two indexes on engine tables (declared here, created by the reports migrations): the process
report reads instances by process and start time from an index holding every column it needs
(an instance row carries the workflow state, several KB, which the report never reads), and
counts history events of one kind (withdrawn, delegated, interrupted) without reading every
row of the history.
"""
from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, utcnow
from app.engine.models import ProcessHistory, ProcessInstance
from app.extensions import db

# Covering: the process report reads these columns only, never the row with its large state.
Index("ix_process_instances_report", ProcessInstance.process_key, ProcessInstance.created_at, ProcessInstance.status,
      ProcessInstance.completed_at, ProcessInstance.definition_id)
Index("ix_process_history_event_instance", ProcessHistory.event, ProcessHistory.instance_id)


class ActionMinutes(db.Model):
    __tablename__ = "report_action_minutes"

    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"), primary_key=True)
    action_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_type: Mapped[str] = mapped_column(String(40), nullable=False)
    minutes: Mapped[float] = mapped_column(Float, nullable=False, default=0)
    updated_by: Mapped[str | None] = mapped_column(String(80))
    updated_at = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
