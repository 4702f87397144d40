"""Checks made when a task or actor is declared or submitted: each raises what Ray 2.60
raises (type and message, checked on Ray), where Ray raises it, before anything is sent."""

from __future__ import annotations

import pytest

import kernelray as ray
from kernelray import submit_checks
from kernelray.util.placement_group import placement_group, remove_placement_group
from kernelray.util.scheduling_strategies import PlacementGroupSchedulingStrategy


def needs_b_and_c(a, b, *, c, d=1):
    return a


def anything(*args, **kwargs):
    return len(args), sorted(kwargs)


class Account:
    CURRENCY = "EUR"

    def __init__(self, owner, *, balance=0):
        self.balance = balance

    def deposit(self, amount, note=""):
        self.balance += amount
        return self.balance

    @staticmethod
    def fee(amount):
        return amount / 100

    @classmethod
    def currency(cls):
        return cls.CURRENCY


# -- no cluster needed: raised when decorating or before connecting

def test_async_def_function_is_refused_at_decoration():
    async def fetch():
        return 1

    with pytest.raises(ValueError, match=r"'async def' should not be used for remote tasks"):
        ray.remote(fetch)


def test_remote_with_empty_parentheses_is_refused():
    with pytest.raises(AssertionError, match=r"must be applied either with no arguments and no parentheses"):
        ray.remote()(Account)


def test_subclassing_an_actor_class_is_refused():
    AccountActor = ray.remote(Account)
    with pytest.raises(ray.exceptions.ActorClassInheritanceException,
                       match=r"Attempted to define subclass 'Savings' of actor class 'Account'\. Inheriting "
                             r"from actor classes is not currently supported\."):
        class Savings(AccountActor):
            pass
    assert issubclass(ray.actor.ActorClassInheritanceException, TypeError)


def test_actor_class_exposes_class_attributes_static_and_class_methods():
    AccountActor = ray.remote(Account)
    assert (AccountActor.CURRENCY, AccountActor.fee(250), AccountActor.currency()) == ("EUR", 2.5, "EUR")


def test_init_refuses_a_namespace_that_is_not_a_string():
    if ray.is_initialized():
        ray.shutdown()
    with pytest.raises(TypeError, match=r"^namespace must be None or a string\.$"):
        ray.init(namespace=3)
    assert not ray.is_initialized()


# -- on a cluster: raised by .remote()

@pytest.mark.parametrize("args, kwargs, message", [
    ((1,), {}, "missing a required argument: 'b'"),
    ((1, 2, 3), {"c": 1}, "too many positional arguments"),
    ((1, 2), {}, "missing a required argument: 'c'"),
    ((1, 2), {"c": 1, "z": 2}, "got an unexpected keyword argument 'z'"),
])
def test_task_arguments_are_bound_against_the_signature(cluster, args, kwargs, message):
    with pytest.raises(TypeError, match=f"^{message}$"):
        ray.remote(needs_b_and_c).remote(*args, **kwargs)


def test_varargs_and_varkwargs_accept_anything(cluster):
    assert ray.get(ray.remote(anything).remote(1, 2, x=3), timeout=30) == (2, ["x"])


def test_constructor_arguments_are_bound_against_init(cluster):
    AccountActor = ray.remote(Account)
    with pytest.raises(TypeError, match="^missing a required argument: 'owner'$"):
        AccountActor.remote()
    with pytest.raises(TypeError, match="^got an unexpected keyword argument 'limit'$"):
        AccountActor.remote("ann", limit=3)


def test_actor_method_arguments_are_bound_and_static_methods_callable(cluster):
    account = ray.remote(Account).remote("ann")
    with pytest.raises(TypeError, match="^missing a required argument: 'amount'$"):
        account.deposit.remote()
    with pytest.raises(TypeError, match="^too many positional arguments$"):
        account.deposit.remote(1, "x", "y")
    assert ray.get([account.deposit.remote(5), account.fee.remote(300)], timeout=30) == [5, 3.0]


def test_binding_can_be_switched_off(cluster, monkeypatch):
    monkeypatch.setattr(submit_checks, "ENABLED", False)
    ref = ray.remote(needs_b_and_c).remote(1)  # submitted: the worker's call fails instead
    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(ref, timeout=30)


def test_oversized_function_and_class_are_refused(cluster, monkeypatch):
    monkeypatch.setenv("FUNCTION_SIZE_ERROR_THRESHOLD", str(2 * 2**20))
    payload = b"x" * (3 * 2**20)

    def carries_payload():
        return len(payload)

    class CarriesPayload:
        def size(self):
            return len(payload)

    with pytest.raises(ValueError, match=r"^The remote function .*carries_payload is too large \(3 MiB > "
                                         r"FUNCTION_SIZE_ERROR_THRESHOLD=2 MiB\)"):
        ray.remote(carries_payload).remote()
    with pytest.raises(ValueError, match=r"^The actor CarriesPayload is too large \(3 MiB > "):
        ray.remote(CarriesPayload).remote()


def test_reserved_resource_name_bundle_is_refused(cluster):
    with pytest.raises(ValueError, match=r"^The resource should not include `bundle` which is reserved for Ray\. "
                                         r"resources: \{'bundle': 1\}$"):
        ray.remote(anything).options(resources={"bundle": 1}).remote()


@pytest.fixture
def one_cpu_group(cluster):
    pg = placement_group([{"CPU": 1}])
    ray.get(pg.ready(), timeout=30)
    yield pg
    remove_placement_group(pg)


def test_task_asking_a_placement_group_for_more_than_a_bundle_is_refused(one_cpu_group):
    in_group = PlacementGroupSchedulingStrategy(one_cpu_group)
    with pytest.raises(ValueError, match=r"^Cannot schedule needs_b_and_c with the placement group because the "
                                         r"resource request \{'CPU': 2\} cannot fit into any bundles for the "
                                         r"placement group, \[\{'CPU': 1\.0\}\]\.$"):
        ray.remote(needs_b_and_c).options(num_cpus=2, scheduling_strategy=in_group).remote(1, 2, c=3)


def test_actor_asking_a_placement_group_for_more_than_a_bundle_is_refused(one_cpu_group):
    in_group = PlacementGroupSchedulingStrategy(one_cpu_group)
    with pytest.raises(ValueError, match=r"^Cannot schedule Account with the placement group because the resource "
                                         r"request \{'special': 1, 'CPU': 1\} cannot fit into any bundles"):
        ray.remote(Account).options(num_cpus=1, resources={"special": 1}, scheduling_strategy=in_group).remote("a")


def test_default_actor_in_a_placement_group_without_cpus_is_refused(cluster):
    no_cpu = placement_group([{"special": 1}])  # never placed here: the check needs only its bundles
    try:
        with pytest.raises(ValueError, match=r"^Cannot schedule Account with the placement group because the actor "
                                             r"requires 1 CPU for creation, but it cannot fit into any bundles for "
                                             r"the placement group, \[\{'special': 1\.0\}\]\. Consider creating a "
                                             r"placement group with CPU resources\.$"):
            ray.remote(Account).options(scheduling_strategy=PlacementGroupSchedulingStrategy(no_cpu)).remote("a")
    finally:
        remove_placement_group(no_cpu)
