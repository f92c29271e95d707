from tests.conftest import AGENCY_A


def test_fixture_actors(admin_a, worker_b):
    assert admin_a.agency_code == AGENCY_A
    assert worker_b.agency_code == "BBB"
    assert admin_a.is_admin and not worker_b.is_admin
