from django.apps import AppConfig


class EmagConfig(AppConfig):
    name = "emag"
    verbose_name = "eMAG"
