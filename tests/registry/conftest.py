import pytest

from tests.factories import World


@pytest.fixture
def world(db) -> World:
    return World()
