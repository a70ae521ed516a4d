from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users and roles"

    def ready(self):
        import magflow.checks  # noqa: F401  (registers the system checks)
        from accounts.roles import sync_role_groups

        # After every migrate (tests included), so the groups always carry the
        # permissions of every app, whichever app migrated last.
        post_migrate.connect(sync_role_groups, dispatch_uid="accounts.sync_role_groups")
