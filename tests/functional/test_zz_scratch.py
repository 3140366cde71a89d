from tests.factories import sign_in_client

def test_x(client, db, world):
    sign_in_client(client, db, world["focal_a"])
    r = client.get("/__no_such_page__")
    print(r.status_code, "csrf_token" in r.get_data(as_text=True), "Sign out" in r.get_data(as_text=True))
    with client.session_transaction() as s:
        print(dict(s))
    r = client.get("/")
    print(r.status_code, r.headers.get("Location"))
