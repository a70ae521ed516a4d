import re

import pytest


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_pages_load_their_assets_from_magflow_not_a_cdn(client, viewer, path):
    client.force_login(viewer)

    page = client.get(path)

    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())
    assert sources, "the page loads its scripts and styles"
    assert all(source.startswith("/") for source in sources), sources


def test_the_api_docs_pages_need_a_login(client):
    assert client.get("/api/docs/").status_code in (401, 403)
