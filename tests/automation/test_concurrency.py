"""Round-robin under concurrent saves: the cursor row is locked, so two saves at once never
hand their customers to the same member."""
import threading

from sqlalchemy import select

from app.extensions import db


def test_concurrent_saves_alternate_the_round_robin(app, within):
    def setup():
        from app.auth.services import create_group, get_user
        from app.automation.services import create_rule

        create_group(name="fujian-sales", members=["sales1", "sales2"])
        create_rule(dict(name="轮询", entity="customer", event="created",
                         condition={"field": "province", "op": "eq", "value": "福建"},
                         actions=[{"type": "assign_owner", "strategy": "round_robin", "group": "fujian-sales"}]),
                    get_user("admin"))

    within(setup)
    barrier = threading.Barrier(4)
    errors = []

    def save(index):
        from app.auth.services import get_user
        from app.crm import services as crm

        with app.test_request_context():
            try:
                barrier.wait(10)
                crm.create("customer", {"name": f"并发{index}", "province": "福建"}, get_user("admin"))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors

    def owners():
        from app.crm.models import Customer

        return sorted(c.owner.username for c in db.session.scalars(select(Customer)))

    assert within(owners) == ["sales1", "sales1", "sales2", "sales2"]
