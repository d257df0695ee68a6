"""The sales report (销售报表): what the pipeline won and lost in a period, per salesperson,
over the records the reader answers for (a salesperson their own, a manager their department's,
an administrator everyone's; not what colleagues shared with them).

- new: opportunities created in the period (count, amount), credited to who they were opened
  for (their first owner), though they changed hands since;
- won / lost: opportunities closed as won / lost in the period (by ``closed_at``);
- win rate: won ÷ (won + lost) of the period, None without closed deals;
- contracts signed: contracts signed (or since expired) whose ``signed_on`` lies in the period
  (count, amount), credited to who signed them (their owner then, not whoever owns them since):
  a draft, a rejected or a cancelled one with a date filled in is no signature;
- open pipeline: open opportunities now, per stage and per owner (not bound to the period).
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import and_, case, func, select

from app.auth.models import User
from app.crm import services as crm
from app.crm.models import AssignmentLog, Contract, Opportunity
from app.extensions import db

from .services import Period, managed_groups


def can_see_sales(user) -> bool:
    """Sales, their managers (of any group) and administrators; approvers own no deals."""
    return user.has_role("sales", "admin", "designer") or bool(managed_groups(user))


# Each salesperson's figures, and the totals' (amounts in yuan).
FIGURES = ("new", "new_amount", "won", "won_amount", "lost", "open", "open_amount", "contracts", "contracts_amount")


# Who a deal was opened for: its first owner (the assignment log's first line), else its owner.
# A deal handed on (a leaver's, a customer's new owner) stays new for who opened it, as its win
# and its contracts stay with who won and signed them.
OPENED_FOR = func.coalesce(
    select(AssignmentLog.to_user_id).where(AssignmentLog.entity == "opportunity", AssignmentLog.record_id == Opportunity.id)
    .order_by(AssignmentLog.id).limit(1).scalar_subquery(), Opportunity.owner_id)


def _amount(value) -> float:
    # Yuan to the fen: SQLite sums money as binary floats (12540457.280000001 reached the API).
    return round(float(value or Decimal(0)), 2)


def sales_report(user, period: Period) -> dict:
    in_period = lambda column: and_(column >= period.start, column < period.end)  # noqa: E731
    new = in_period(Opportunity.created_at)
    won = and_(Opportunity.status == "won", in_period(Opportunity.closed_at))
    lost = and_(Opportunity.status == "lost", in_period(Opportunity.closed_at))
    is_open = Opportunity.status == "open"

    def count_and_sum(condition):
        return (func.count(case((condition, 1))), func.sum(case((condition, Opportunity.amount))))

    per_owner: dict[int, dict] = {}

    def owner_row(owner_id) -> dict:
        return per_owner.setdefault(owner_id, {key: 0 for key in FIGURES})

    for owner_id, *figures in db.session.execute(
            select(Opportunity.owner_id, *count_and_sum(won), func.count(case((lost, 1))), *count_and_sum(is_open))
            .where(crm.answered_for_clause(Opportunity, user)).group_by(Opportunity.owner_id)):
        owner_row(owner_id).update(zip(("won", "won_amount", "lost", "open", "open_amount"), figures))
    for owner_id, n, amount in db.session.execute(  # new deals, by whom they were opened for
            select(OPENED_FOR, func.count(), func.sum(Opportunity.amount))
            .where(new, crm.answered_for_clause(Opportunity, user, OPENED_FOR)).group_by(OPENED_FOR)):
        owner_row(owner_id).update(new=n, new_amount=amount)
    for owner_id, n, amount in db.session.execute(  # signed contracts, by who signed them, also without deals
            select(Contract.signed_by_id, func.count(), func.sum(Contract.amount))
            .where(crm.answered_for_clause(Contract, user, Contract.signed_by_id), Contract.status.in_(crm.SIGNED),
                   Contract.signed_on >= period.first, Contract.signed_on <= period.last)
            .group_by(Contract.signed_by_id)):
        owner_row(owner_id).update(contracts=n, contracts_amount=amount)

    owners = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(per_owner)))}
    people = []
    for owner_id, row in per_owner.items():
        owner = owners.get(owner_id)
        row = {key: _amount(value) if key.endswith("_amount") else value for key, value in row.items()}
        people.append({"username": owner.username if owner else None, "label": owner.label if owner else "—",
                       **row, "win_rate": _rate(row["won"], row["lost"])})
    people.sort(key=lambda p: (-p["won_amount"], -p["won"], p["label"]))

    totals = {key: _amount(sum(p[key] for p in people)) if key.endswith("_amount") else sum(p[key] for p in people)
              for key in FIGURES}
    totals["win_rate"] = _rate(totals["won"], totals["lost"])
    stages = [{"key": s.key, "name": s.name, "count": s.count, "amount": _amount(s.amount)}
              for s in crm.open_pipeline(user, crm.answered_for_clause)]
    return {"period": period.as_dict(), "totals": totals, "people": people, "stages": stages}


def _rate(won: int, lost: int) -> float | None:
    return round(won / (won + lost), 3) if won + lost else None
