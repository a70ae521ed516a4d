"""Credentials leak nowhere: canary accounts synced through every fault kind, at DEBUG logging, then searched for.

Two seller accounts whose username and password are unique canary strings sync against the sandbox
under each fault kind in turn (and once with a refused password, and once through the django-q2
task path). Then the password canaries, and the Basic-auth base64 forms of the credentials, must
appear nowhere:
- in any log record of any logger at DEBUG (message, arguments and traceback);
- in any column of any table, as text (every row of every table is read back), including django-q2's
  queue and task rows decoded from their pickles;
- in any API response, any admin page, or an error page (Django's technical 500 page with DEBUG on).
The username canary may appear only where the account's API username is shown by design: its own
column, and the account's own admin and API pages.
"""

import base64
import logging
import pickle

import pytest
from django.db import connection
from django.test import Client, override_settings

from emag.client import EmagClient
from emag.models import SellerAccount, SyncRun
from emag.sandbox import FAULT_KINDS, Sandbox
from emag.services import start_sync
from emag.sync import sync_offers
from tests.conftest import SANDBOX_BASE_URL

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

CANARIES = {
    "main": ("canary-user-4f1b9e@sandbox.magflow.test", "canary-pass-Zq8v3Kx71"),
    "fbe": ("canary-user-c27d05@sandbox.magflow.test", "canary-pass-Hm5t0Wy42"),
}
USERNAMES = [username for username, _ in CANARIES.values()]


def forbidden_strings() -> list[str]:
    """What must never be seen: each password and its base64, and the Basic-auth token of each account."""
    found = []
    for username, password in CANARIES.values():
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        found += [password, base64.b64encode(password.encode()).decode(), token, token.rstrip("=")]
    return found


def leaks(text: str, *, allow_username: bool = False) -> list[str]:
    words = forbidden_strings() + ([] if allow_username else USERNAMES)
    return [word for word in words if word in text]


class CaptureEverything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record) + " " + repr(record.args) + " " + repr(record.__dict__))


@pytest.fixture
def every_log():
    """A DEBUG handler on the root logger, with every known logger opened to DEBUG for the test."""
    handler = CaptureEverything()
    root = logging.getLogger()
    saved = {name: logger.level for name, logger in logging.root.manager.loggerDict.items() if hasattr(logger, "level")}
    saved_root = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(saved_root)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def quick_sync(account) -> SyncRun:
    with EmagClient(account, sleep=lambda seconds: None) as client:
        return sync_offers(account, trigger=SyncRun.Trigger.COMMAND, client=client)


def every_table_as_text() -> str:
    """Every value of every row of every table, as text (bytes decoded, pickles of django-q2 unpickled)."""
    from django_q.models import OrmQ, Task
    from django_q.signing import SignedPackage

    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (introspected names)
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        value = bytes(value).decode("utf-8", errors="replace")
                    parts.append(f"{table}: {value}")
    for queued in OrmQ.objects.all():
        parts.append(f"ormq task: {SignedPackage.loads(queued.payload)!r}")
    for task in Task.objects.all():
        parts.append(f"task: {task.func} {task.args!r} {task.kwargs!r} {task.result!r}")
    return "\n".join(parts)


def test_credentials_appear_in_no_log_table_task_response_or_page(
    mocked_responses, every_log, admin_user, monkeypatch, django_capture_on_commit_callbacks
):
    sandbox = Sandbox(seed=41, offers=150, accounts=CANARIES, rate_limit=False)
    sandbox.install(mocked_responses, SANDBOX_BASE_URL)
    accounts = {}
    for name, (username, password) in CANARIES.items():
        account = SellerAccount(
            name=name, kind=name, platform=SellerAccount.Platform.CUSTOM, base_url=SANDBOX_BASE_URL, username=username
        )
        account.set_password(password)
        account.save()
        accounts[name] = account

    with override_settings(EMAG_RATE_LIMIT_ENABLED=False, EMAG_READ_TIMEOUT=1.0, EMAG_MAX_TRIES=2):
        for kind in FAULT_KINDS:
            sandbox.set_faults(f"{kind}:0.4")
            for account in accounts.values():
                run = quick_sync(account)
                assert run.status in SyncRun.Status.values
        sandbox.set_faults("")

        # The task path: the queue row and the task row, through django-q2 itself (in-process).
        from django_q.conf import Conf

        monkeypatch.setattr(Conf, "SYNC", True)
        with django_capture_on_commit_callbacks(execute=True):
            run = start_sync(accounts["main"], trigger=SyncRun.Trigger.API)
        run.refresh_from_db()
        assert run.status in SyncRun.SUCCESS_STATUSES

        # A refused password: the error is recorded (run, account, logs) without the credentials.
        wrong = accounts["fbe"]
        wrong.set_password("canary-wrong-Pw9941")
        wrong.save()
        refused = quick_sync(wrong)
        assert refused.status == SyncRun.Status.FAILED
        assert refused.error_message
        wrong.set_password(CANARIES["fbe"][1])
        wrong.save()

    from django_q.models import Task

    assert Task.objects.exists()

    # Logs.
    assert every_log.texts, "nothing was logged: the capture is broken"
    for text in every_log.texts:
        assert leaks(text) == [], text[:500]

    # Every table (the account's own username column aside).
    dump = every_table_as_text()
    assert "canary-pass" not in dump
    assert leaks(dump, allow_username=True) == []
    for username in USERNAMES:
        assert dump.count(username) == 1, f"{username} stored outside its account row"

    # API responses, as an admin (who sees the most).
    api = Client()
    api.force_login(admin_user)
    api_paths = [
        "/api/v1/emag/products/",
        "/api/v1/emag/offers/?page_size=200",
        "/api/v1/emag/sync-runs/",
        "/api/v1/emag/enhanced/products/all?account_type=both&limit=500",
        "/api/v1/emag/enhanced/offers/all",
        "/api/v1/emag/enhanced/status",
        "/api/v1/emag/management/health",
        "/api/v1/emag/management/monitoring/metrics",
        "/api/v1/emag/management/monitoring/sync-stats",
        "/api/v1/emag/management/monitoring/product-stats",
        "/api/v1/emag/management/rate-limiter/stats",
        "/api/v1/auth/me",
        "/health",
        "/health/ready",
    ]
    for run in SyncRun.objects.all():
        api_paths += [f"/api/v1/emag/sync-runs/{run.pk}/", f"/api/v1/emag/sync-runs/{run.pk}/errors/?page_size=200"]
    for path in api_paths:
        response = api.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert leaks(response.content.decode()) == [], path
    for name in accounts:
        for path in ["/api/v1/emag/accounts/", f"/api/v1/emag/accounts/{name}/"]:
            response = api.get(path)
            assert response.status_code == 200
            assert leaks(response.content.decode(), allow_username=True) == [], path
    tested = api.post("/api/v1/emag/accounts/main/test/")
    assert tested.status_code in (200, 502, 503)
    assert leaks(tested.content.decode(), allow_username=True) == []

    # Admin pages, including django-q2's.
    admin_paths = [
        "/admin/",
        "/admin/emag/selleraccount/",
        "/admin/emag/offer/",
        "/admin/emag/product/",
        "/admin/emag/syncrun/",
        "/admin/emag/syncerror/",
        "/admin/emag/apicall/",
        "/admin/django_q/success/",
        "/admin/django_q/failure/",
        "/admin/django_q/ormq/",
    ]
    admin_paths += [f"/admin/emag/syncrun/{run.pk}/change/" for run in SyncRun.objects.all()]
    admin_paths += [f"/admin/django_q/success/{task.pk}/change/" for task in Task.objects.all()]
    for path in admin_paths:
        response = api.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert leaks(response.content.decode()) == [], path
    for account in accounts.values():
        page = api.get(f"/admin/emag/selleraccount/{account.pk}/change/")
        assert page.status_code == 200
        assert leaks(page.content.decode(), allow_username=True) == []


def test_the_debug_error_page_of_a_crash_inside_the_client_shows_no_credentials(mocked_responses, admin_user):
    sandbox = Sandbox(seed=42, offers=10, accounts=CANARIES, rate_limit=False)
    sandbox.install(mocked_responses, SANDBOX_BASE_URL)
    username, password = CANARIES["main"]
    account = SellerAccount(
        name="main", kind="main", platform=SellerAccount.Platform.CUSTOM, base_url=SANDBOX_BASE_URL, username=username
    )
    account.set_password(password)
    account.save()

    def explode(self, *args, **kwargs):
        raise RuntimeError("a bug while reading eMAG's answer")

    browser = Client(raise_request_exception=False)
    browser.force_login(admin_user)
    with override_settings(DEBUG=True, EMAG_RATE_LIMIT_ENABLED=False), pytest.MonkeyPatch.context() as patch:
        patch.setattr(EmagClient, "_interpret", explode)
        page = browser.post(
            "/admin/emag/selleraccount/",
            {"action": "test_connection", "_selected_action": [account.pk]},
        )
        api = browser.post("/api/v1/emag/accounts/main/test/")

    assert page.status_code == 500
    text = page.content.decode()
    assert "a bug while reading eMAG" in text  # the technical page, with its frames and their variables
    # The same frames and variables go into the error e-mails Django sends ADMINS with DEBUG off.
    assert leaks(text, allow_username=True) == []
    assert api.status_code == 500
    assert leaks(api.content.decode(), allow_username=True) == []


def test_the_stored_password_is_not_the_plaintext_or_a_plain_encoding_of_it(db):
    username, password = CANARIES["main"]
    account = SellerAccount(name="main", kind="main", platform="custom", base_url=SANDBOX_BASE_URL, username=username)
    account.set_password(password)
    account.save()
    raw = SellerAccount.objects.filter(pk=account.pk).values_list("password_encrypted", flat=True).get()
    assert password not in raw
    assert base64.b64encode(password.encode()).decode() not in raw
    assert password.encode() not in pickle.dumps(raw)
    assert account.get_password() == password
