from portal.security import Role


def test_patient_sees_today_with_their_group_and_crisis_link(client, login_as, world):
    login_as(Role.PATIENT)
    html = client.get("/").get_data(as_text=True)
    assert "Coping skills" in html
    assert 'href="/crisis"' in html
