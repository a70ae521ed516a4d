from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users and roles"

    def ready(self):
        import magflow.checks  # noqa: F401  (registers the system checks)
        from accounts.roles import sync_role_groups
        from magflow.db import use_c_timestamp_loader

        connection_created.connect(use_c_timestamp_loader, dispatch_uid="magflow.use_c_timestamp_loader")

        # After every migrate (tests included), so the groups always carry the
        # permissions of every app, whichever app migrated last.
        post_migrate.connect(sync_role_groups, dispatch_uid="accounts.sync_role_groups")
