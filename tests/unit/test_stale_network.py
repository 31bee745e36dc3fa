"""A lab network dockerd will not let go of (moby#42119): the lab is down, the network is
named in a warning, and nothing fails because of it."""

from __future__ import annotations

import warnings

import docker.errors
import pytest

from lab.errors import StaleNetworkWarning
from lab.runtime import docker as docker_backend


class _Network:
    """A network as the Docker SDK gives it, at the seam: removal refused for endpoints."""

    def __init__(self, containers: list[object], refusals: int) -> None:
        self.name = "dundi-lab-x"
        self.containers = containers
        self.refusals = refusals

    def remove(self) -> None:
        if self.refusals:
            self.refusals -= 1
            raise docker.errors.APIError("error while removing network: has active endpoints")

    def reload(self) -> None:
        pass


def test_endpoints_that_go_away_are_waited_for() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert docker_backend._remove_network(_Network([], refusals=2), attempts=5)


def test_a_network_with_no_container_but_stale_endpoints_is_a_warning() -> None:
    with pytest.warns(StaleNetworkWarning, match="network dundi-lab-x has no container left"):
        assert not docker_backend._remove_network(_Network([], refusals=99), attempts=3)


class _Stuck:
    """A container that will not go."""

    def remove(self, **_: object) -> None:
        pass


def test_a_network_that_still_has_containers_is_an_error() -> None:
    with pytest.raises(docker.errors.APIError):
        docker_backend._remove_network(_Network([_Stuck()], refusals=99), attempts=2)
