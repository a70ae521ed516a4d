from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

CHANGELIST = "/admin/accounts/user/"


def test_it_lists_users_with_their_role(login, admin_user, viewer, operator):
    text = login(admin_user).get(CHANGELIST).text

    assert "viewer@example.com" in text and "operator@example.com" in text
    assert ">Operator<" not in text  # the role shows as its code name, the group's name
    assert ">operator<" in text and ">viewer<" in text


def test_an_admin_adds_a_user_by_e_mail_with_a_role(login, admin_user):
    response = login(admin_user).post(
        f"{CHANGELIST}add/",
        {
            "email": "New.Person@Example.com",
            "usable_password": "true",
            "password1": "a-Long-new-passw0rd",
            "password2": "a-Long-new-passw0rd",
            "is_staff": "on",
            "groups": [Group.objects.get(name="operator").pk],
        },
    )

    assert response.status_code == 302
    user = get_user_model().objects.get(email="new.person@example.com")
    assert user.check_password("a-Long-new-passw0rd") and user.role == "operator" and user.is_staff


def test_an_e_mail_differing_only_in_case_is_refused(login, admin_user, viewer):
    response = login(admin_user).post(
        f"{CHANGELIST}add/",
        {
            "email": "VIEWER@example.com",
            "usable_password": "true",
            "password1": "a-Long-new-passw0rd",
            "password2": "a-Long-new-passw0rd",
        },
    )

    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors


def test_the_user_page_never_shows_a_password_hash(login, admin_user, viewer):
    text = login(admin_user).get(f"{CHANGELIST}{viewer.pk}/change/").text

    assert viewer.password not in text


def test_operators_cannot_manage_users(login, operator, viewer):
    assert login(operator).get(CHANGELIST).status_code == 403
