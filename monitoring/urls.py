from django.urls import path

from monitoring import views

MANAGEMENT = "api/v1/emag/management/"

urlpatterns = [
    path("health", views.health_live, name="health"),
    path("health/ready", views.health_ready, name="health-ready"),
    path("metrics", views.prometheus_metrics, name="prometheus-metrics"),
    path(MANAGEMENT + "health", views.HealthView.as_view(), name="management-health"),
    path(MANAGEMENT + "monitoring/metrics", views.MetricsView.as_view(), name="management-metrics"),
    path(MANAGEMENT + "monitoring/sync-stats", views.SyncStatsView.as_view(), name="management-sync-stats"),
    path(MANAGEMENT + "monitoring/product-stats", views.ProductStatsView.as_view(), name="management-product-stats"),
    path(MANAGEMENT + "rate-limiter/stats", views.RateLimiterStatsView.as_view(), name="management-rate-limiter-stats"),
    path(MANAGEMENT + "rate-limiter/reset", views.RateLimiterResetView.as_view(), name="management-rate-limiter-reset"),
    path(MANAGEMENT + "backups", views.BackupListView.as_view(), name="management-backups"),
    path(MANAGEMENT + "backups/<int:pk>", views.BackupDetailView.as_view(), name="management-backup-detail"),
]
