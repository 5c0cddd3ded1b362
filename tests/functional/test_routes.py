"""Every route declares who may use it; an undeclared one is refused, not served."""

from flask import Flask

from portal.security import ROLE_PERMISSIONS, Permission


def test_every_route_declares_a_permission(app: Flask):
    undeclared = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if not hasattr(app.view_functions[rule.endpoint], "required_permissions")
    ]
    assert undeclared == []


def test_every_declared_permission_is_held_by_some_role(app: Flask):
    held = set().union(*ROLE_PERMISSIONS.values())
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not view.is_public:
            assert view.required_permissions & held, rule.rule


def test_a_route_without_a_declaration_answers_500_not_the_page(engine):
    from portal import create_app

    fresh = create_app({"TESTING": True, "ENGINE": engine, "SECRET_KEY": "x" * 40})

    @fresh.route("/__undeclared-test-route")
    def undeclared():
        return "secret page body"

    response = fresh.test_client().get("/__undeclared-test-route")
    assert response.status_code == 500
    assert b"secret page body" not in response.data


def test_patients_hold_no_staff_permission():
    from portal.security import Role

    patient = ROLE_PERMISSIONS[Role.PATIENT]
    assert not {p for p in patient if p.startswith(("staff:", "admin:", "audit:"))}
    assert Permission.PATIENT_SELF in patient
