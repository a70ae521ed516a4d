"""Re-encrypt every stored eMAG password with the first key of MAGFLOW_ENCRYPTION_KEY.

To rotate: put the new key first and keep the old ones after it
(MAGFLOW_ENCRYPTION_KEY=new,old), run this command, then drop the old keys.
All rows are re-encrypted in one transaction: if any row cannot be decrypted with the
configured keys, nothing is changed and the command names the accounts concerned.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from emag import crypto
from emag.models import SellerAccount


class Command(BaseCommand):
    help = "Re-encrypt every stored eMAG password with the first MAGFLOW_ENCRYPTION_KEY key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        failed: list[str] = []
        with transaction.atomic():
            accounts = SellerAccount.objects.select_for_update().exclude(password_encrypted="").order_by("pk")
            for account in accounts:
                try:
                    token = crypto.rotate(account.password_encrypted)
                except crypto.DecryptionError:
                    failed.append(account.name)
                    continue
                SellerAccount.objects.filter(pk=account.pk).update(password_encrypted=token)
                rotated += 1
            if failed:
                # Roll back: a half-rotated table is harder to reason about than an untouched one.
                transaction.set_rollback(True)
        if failed:
            raise CommandError(
                f"Nothing changed: the password of {', '.join(failed)} cannot be decrypted with any configured key. "
                "Add the key it was encrypted with to MAGFLOW_ENCRYPTION_KEY (after the new one) and run again."
            )
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rotated} password(s) with the first key."))
