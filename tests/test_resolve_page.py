"""Black-box tests of the one-click resolve links (contract sections 4, 5 and 6).

Every admin gets their own link in each "new form" / "edited form" e-mail; GET /resolve?token=
resolves the form exactly like PUT /api/v1/form/resolve and answers with a small HTML page.
"""

import concurrent.futures
from urllib.parse import quote

import pytest

from authhelpers import (
    RESET_PAGE,
    auth,
    expect,
    expect_page,
    link_path,
    link_token,
    mail_link,
    mails_since,
    make_user,
    now,
    outbox_max_id,
    public_host,
    root_token,
    set_admin,
)
from formhelpers import (
    FORM,
    RESOLVE_PAGE,
    all_forms,
    already_resolved,
    create_form,
    form_subject,
    get_form,
    resolve_as,
    user_id,
)


def expect_invalid(resp):
    expect_page(resp, 422, "Invalid data")
    assert "Form resolved" not in resp.text
    return resp


def success_texts(form_id, submitter):
    return (
        "Form resolved",
        f"Form no. {form_id} was resolved successfully.",
        f"The submitter ({submitter.full_name}) has been notified.",
    )


def open_page(api, link, prefix=""):
    return api.get(prefix + link_path(api, link, RESOLVE_PAGE))


def resolve_link(api, since, form_id, admin_email):
    rows = mails_since(api, since, to=admin_email, subject=form_subject(form_id))
    assert len(rows) == 1, f"expected one form e-mail to {admin_email}, got {rows!r}"
    link = mail_link(rows[0])
    prefix = f"http://{public_host(api)}{RESOLVE_PAGE}?token="
    assert link.startswith(prefix), link
    assert link_token(link), link
    return link


def new_form_with_link(api, submitter, admin, **fields):
    since = outbox_max_id(api)
    form_id = create_form(api, submitter, **fields)
    return form_id, resolve_link(api, since, form_id, admin.email)


def resolved_mails(api, since, submitter, form_id):
    return mails_since(api, since, to=submitter.email, subject=form_subject(form_id))


# =========================================================================== bad tokens


def test_missing_token_is_invalid(api):
    expect_invalid(api.get(RESOLVE_PAGE))
    expect_invalid(api.get(RESOLVE_PAGE + "?token="))
    expect_invalid(api.get(RESOLVE_PAGE + "?other=1"))


@pytest.mark.parametrize("token", ["abc", "abc.def", "a.b.c", "....", "%00", "eyJhIjoxfQ.AAAA", "x" * 2000])
def test_garbage_token_is_invalid(api, token):
    expect_invalid(api.get(RESOLVE_PAGE + "?token=" + quote(token, safe="")))


def test_tampered_token_is_invalid_and_resolves_nothing(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    token = link_token(link)
    i = len(token) - 3  # inside the signature part
    tampered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
    since = outbox_max_id(api)
    expect_invalid(api.get(RESOLVE_PAGE, params={"token": tampered}))
    # payload changed, signature kept
    j = 2
    other_payload = token[:j] + ("A" if token[j] != "A" else "B") + token[j + 1:]
    expect_invalid(api.get(RESOLVE_PAGE, params={"token": other_payload}))
    expect_invalid(api.get(RESOLVE_PAGE, params={"token": token + "x"}))
    expect_invalid(api.get(RESOLVE_PAGE, params={"token": token[:-1]}))
    assert get_form(api, form_id)["resolved_at"] is None
    assert mails_since(api, since) == []
    # the genuine link still works afterwards
    expect_page(open_page(api, link), 200, *success_texts(form_id, submitter))


def test_password_link_token_is_not_a_resolve_token(api):
    since = outbox_max_id(api)
    user = make_user(api, password=None)
    rows = mails_since(api, since, to=user.email)
    assert len(rows) == 1
    password_token = link_token(mail_link(rows[0]))
    expect_invalid(api.get(RESOLVE_PAGE, params={"token": password_token}))


def test_resolve_token_is_not_a_password_token(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    resp = api.get(RESET_PAGE, params={"token": link_token(link)})
    expect_invalid(resp)
    resp = api.post(RESET_PAGE, data={"token": link_token(link), "password": "whatever-123"})
    expect_invalid(resp)
    assert get_form(api, form_id)["resolved_at"] is None


# =========================================================================== success


def test_link_resolves_the_form_and_notifies_the_submitter(api):
    submitter = make_user(api, first_name="Sally", last_name="Submitter", log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm, payment_method="cash", amount=12.5)
    before = get_form(api, form_id)
    assert before["resolved_at"] is None
    since = outbox_max_id(api)
    t0 = now()
    resp = open_page(api, link)
    t1 = now()
    expect_page(resp, 200, *success_texts(form_id, submitter))
    assert "The submitter (Sally Submitter) has been notified." in resp.text

    after = get_form(api, form_id)
    assert isinstance(after["resolved_at"], int) and t0 - 2 <= after["resolved_at"] <= t1 + 2, after
    assert after == {**before, "resolved_at": after["resolved_at"]}

    rows = mails_since(api, since)
    assert len(rows) == 1, rows
    assert rows[0]["to_address"].lower() == submitter.email.lower()
    assert rows[0]["subject"] == form_subject(form_id)
    assert "resolved" in rows[0]["text_body"].lower()
    assert "€12.50" in rows[0]["text_body"] and "Cash" in rows[0]["text_body"]
    assert "/resolve?token=" not in rows[0]["html_body"] + rows[0]["text_body"]


def test_submitter_without_last_name_is_named_by_first_name(api):
    submitter = make_user(api, first_name="Mononym", last_name=None, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    resp = expect_page(open_page(api, link), 200, "Form resolved", f"Form no. {form_id} was resolved successfully.")
    assert "The submitter (Mononym) has been notified." in resp.text


def test_each_admin_gets_their_own_working_link(api):
    submitter = make_user(api, log_in=True)
    a1 = make_user(api, admin=True, log_in=True)
    a2 = make_user(api, admin=True, log_in=True)
    since = outbox_max_id(api)
    form_id = create_form(api, submitter)
    link1 = resolve_link(api, since, form_id, a1.email)
    link2 = resolve_link(api, since, form_id, a2.email)
    root_link = resolve_link(api, since, form_id, "root@example.test")
    assert len({link_token(link1), link_token(link2), link_token(root_link)}) == 3

    mail_since = outbox_max_id(api)
    expect_page(open_page(api, link2), 200, *success_texts(form_id, submitter))
    expect_page(open_page(api, link1), 400, f"Form {form_id} has already been resolved.")
    expect_page(open_page(api, root_link), 400, f"Form {form_id} has already been resolved.")
    assert len(resolved_mails(api, mail_since, submitter, form_id)) == 1
    assert len(mails_since(api, mail_since)) == 1


def test_second_click_is_already_resolved(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    since = outbox_max_id(api)
    expect_page(open_page(api, link), 200, *success_texts(form_id, submitter))
    resolved_at = get_form(api, form_id)["resolved_at"]
    resp = expect_page(open_page(api, link), 400, f"Form {form_id} has already been resolved.")
    assert "Form resolved" not in resp.text
    assert get_form(api, form_id)["resolved_at"] == resolved_at
    assert len(mails_since(api, since)) == 1
    expect(resolve_as(api, root_token(api), form_id), 400, {"message": already_resolved(form_id)})


def test_link_after_api_resolve_is_already_resolved(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    expect(resolve_as(api, root_token(api), form_id), 200)
    since = outbox_max_id(api)
    expect_page(open_page(api, link), 400, f"Form {form_id} has already been resolved.")
    assert mails_since(api, since) == []


def test_link_for_deleted_form(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    expect(api.delete(FORM, json={"id": form_id}, headers=submitter.headers), 200)
    since = outbox_max_id(api)
    resp = expect_page(open_page(api, link), 400, f"Form {form_id} does not exist. It may have been deleted.")
    assert "Form resolved" not in resp.text
    assert mails_since(api, since) == []


def test_link_from_edited_form_email_works(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id = create_form(api, submitter, course="A")
    since = outbox_max_id(api)
    expect(api.patch(FORM, json={"id": form_id, "course": "B"}, headers=submitter.headers), 200)
    link = resolve_link(api, since, form_id, adm.email)
    expect_page(open_page(api, link), 200, *success_texts(form_id, submitter))
    assert get_form(api, form_id)["course"] == "B"
    assert isinstance(get_form(api, form_id)["resolved_at"], int)


def test_link_with_leading_double_slash(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    expect_page(open_page(api, link, prefix="/"), 200, *success_texts(form_id, submitter))


def test_concurrent_clicks_resolve_once(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    since = outbox_max_id(api)
    n = 6
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        responses = list(pool.map(lambda _: open_page(api, link), range(n)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (n - 1), [(r.status_code, r.text[:200]) for r in responses]
    for resp in responses:
        if resp.status_code == 400:
            assert f"Form {form_id} has already been resolved." in resp.text
    assert len(mails_since(api, since)) == 1


# =========================================================================== the admin behind the link


def test_link_of_demoted_admin_is_invalid(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    set_admin(api, adm, False)
    since = outbox_max_id(api)
    expect_invalid(open_page(api, link))
    assert get_form(api, form_id)["resolved_at"] is None
    assert mails_since(api, since) == []
    # "only works while that admin ... is still an admin": promoted again, it works again
    set_admin(api, adm, True)
    expect_page(open_page(api, link), 200, *success_texts(form_id, submitter))


def test_link_of_deleted_admin_is_invalid(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    api.sql("DELETE FROM users WHERE id = ?", (user_id(api, adm.username),))
    since = outbox_max_id(api)
    expect_invalid(open_page(api, link))
    assert get_form(api, form_id)["resolved_at"] is None
    assert mails_since(api, since) == []


def test_link_of_other_admin_still_works_after_one_is_demoted(api):
    submitter = make_user(api, log_in=True)
    a1 = make_user(api, admin=True, log_in=True)
    a2 = make_user(api, admin=True, log_in=True)
    since = outbox_max_id(api)
    form_id = create_form(api, submitter)
    link1 = resolve_link(api, since, form_id, a1.email)
    link2 = resolve_link(api, since, form_id, a2.email)
    set_admin(api, a1, False)
    expect_invalid(open_page(api, link1))
    expect_page(open_page(api, link2), 200, *success_texts(form_id, submitter))


def test_link_needs_no_authorization_and_ignores_a_bad_one(api):
    submitter = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)
    form_id, link = new_form_with_link(api, submitter, adm)
    resp = api.get(link_path(api, link, RESOLVE_PAGE), headers=auth("garbage"))
    expect_page(resp, 200, *success_texts(form_id, submitter))


def test_every_change_shows_in_the_next_list_whichever_function_made_it(api):
    """`GET /form` keeps the list it wrote until a form changes (the forms' version, raised in
    the changing transaction). Every change shows in the very next list, including those the
    other functions make while `form` holds a kept list: the API resolve (`form-resolve`) and
    the e-mailed link (`resolve`)."""
    user = make_user(api, log_in=True)
    adm = make_user(api, admin=True, log_in=True)

    def ids(token):
        return [f["id"] for f in all_forms(api, token)]

    def warm():
        # Asked twice: the second answer is the kept one, and what follows must replace it.
        for token in (adm.token, user.token):
            assert ids(token) == ids(token)

    warm()
    mine_before, every_before = ids(user.token), ids(adm.token)
    first, link = new_form_with_link(api, user, adm)
    assert ids(user.token) == mine_before + [first]
    assert ids(adm.token) == every_before + [first]

    warm()
    expect(api.patch(FORM, json={"id": first, "receipt": "edited"}, headers=user.headers), 200)
    assert [f["receipt"] for f in all_forms(api, user.token) if f["id"] == first] == ["edited"]

    warm()
    expect_page(open_page(api, link), 200, *success_texts(first, user))
    assert [f["resolved_at"] is not None for f in all_forms(api, user.token) if f["id"] == first] == [True]

    second = create_form(api, user)
    warm()
    expect(resolve_as(api, adm.token, second), 200)
    assert [f["resolved_at"] is not None for f in all_forms(api, adm.token) if f["id"] == second] == [True]

    warm()
    expect(api.delete(FORM, json={"id": first}, headers=user.headers), 200)
    assert ids(user.token) == mine_before + [second]
    assert ids(adm.token) == every_before + [second]
