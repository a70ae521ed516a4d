"""The HTTP sandbox generates its whole catalogue before it serves, not while a client reads."""

from emag.sandbox import Sandbox


def test_it_generates_every_offer_of_every_account_before_serving():
    sandbox = Sandbox(seed=4, offers=120, rate_limit=False)
    untouched = {name: len(state.catalogue._offers) for name, state in sandbox.accounts.items()}

    server = sandbox.serve(port=0)
    try:
        generated = {name: len(state.catalogue._offers) for name, state in sandbox.accounts.items()}
    finally:
        server.stop()

    assert untouched == {name: 0 for name in sandbox.accounts}
    assert generated == {name: len(state.catalogue) for name, state in sandbox.accounts.items()}
    assert all(count > 0 for count in generated.values())


def test_warming_changes_no_record():
    cold = Sandbox(seed=4, offers=120, rate_limit=False)
    warm = Sandbox(seed=4, offers=120, rate_limit=False)
    warm.accounts["main"].catalogue.warm()

    assert warm.catalogue("main") == cold.catalogue("main")
