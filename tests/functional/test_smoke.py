def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok", "database": "ok", "migrations": "current", "keyring": "ok"}


def test_login_page_is_vietnamese(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert 'lang="vi"' in r.get_data(as_text=True)
