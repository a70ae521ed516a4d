from django.core.management import call_command


def flush_expired_tokens() -> None:
    """Delete expired refresh tokens and their blacklist rows (they grow with every login and refresh)."""
    call_command("flushexpiredtokens")
