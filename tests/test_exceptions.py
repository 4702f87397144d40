"""kernelray.exceptions has Ray's whole exception tree: every name of ``ray.exceptions`` (Ray 2.60), with the
same bases.  The table was written from Ray 2.60 (``inspect`` of ``ray.exceptions``); it is not read from Ray here."""

import builtins

import pytest

import kernelray.exceptions as krexc

RAY_2_60_TREE = {
    "ActorAlreadyExistsError": ('ValueError', 'RayError'),
    "ActorDiedError": ('RayActorError',),
    "ActorHandleNotFoundError": ('ValueError', 'RayError'),
    "ActorPlacementGroupRemoved": ('RayError',),
    "ActorUnavailableError": ('RayActorError',),
    "ActorUnschedulableError": ('RayError',),
    "AsyncioActorExit": ('RayError',),
    "AuthenticationError": ('RayError',),
    "CrossLanguageError": ('RayError',),
    "GetTimeoutError": ('RayError', 'TimeoutError'),
    "LocalRayletDiedError": ('RayError',),
    "NodeDiedError": ('RayError',),
    "ObjectFetchTimedOutError": ('ObjectLostError',),
    "ObjectFreedError": ('ObjectLostError',),
    "ObjectLostError": ('RayError',),
    "ObjectReconstructionFailedError": ('ObjectLostError',),
    "ObjectRefStreamEndOfStreamError": ('RayError',),
    "ObjectStoreFullError": ('RayError',),
    "OufOfBandObjectRefSerializationException": ('RayError',),
    "OutOfDiskError": ('RayError',),
    "OutOfMemoryError": ('RayError',),
    "OwnerDiedError": ('ObjectLostError',),
    "PendingCallsLimitExceeded": ('RayError',),
    "PlasmaObjectNotAvailable": ('RayError',),
    "RayActorError": ('RayError',),
    "RayCgraphCapacityExceeded": ('RaySystemError',),
    "RayChannelError": ('RaySystemError',),
    "RayChannelTimeoutError": ('RayChannelError', 'TimeoutError'),
    "RayDirectTransportError": ('RaySystemError',),
    "RayError": ('Exception',),
    "RaySystemError": ('RayError',),
    "RayTaskError": ('RayError',),
    "ReferenceCountingAssertionError": ('ObjectLostError', 'AssertionError'),
    "RpcError": ('RayError',),
    "RuntimeEnvSetupError": ('RayError',),
    "StreamingGeneratorReplayInconsistentError": ('RaySystemError',),
    "TaskCancelledError": ('RayError',),
    "TaskPlacementGroupRemoved": ('RayError',),
    "TaskUnschedulableError": ('RayError',),
    "UnserializableException": ('RayError',),
    "UserCodeException": ('RayError',),
    "WorkerCrashedError": ('RayError',),
}


def _base_names(cls):
    return tuple(b.__name__ for b in cls.__bases__)


@pytest.mark.parametrize("name", sorted(RAY_2_60_TREE))
def test_exception_has_rays_name_and_bases(name):
    cls = getattr(krexc, name, None)
    assert cls is not None, f"kernelray.exceptions lacks {name}"
    assert _base_names(cls) == RAY_2_60_TREE[name]
    for base in cls.__bases__:  # the bases are Ray's classes (ours) or the builtins Ray uses
        assert base is getattr(krexc, base.__name__, None) or base is getattr(builtins, base.__name__)


def test_every_ray_exception_is_exported():
    assert set(RAY_2_60_TREE) <= set(krexc.__all__)


def test_messages_follow_rays():
    assert str(krexc.TaskUnschedulableError("node gone")) == "The task is not schedulable: node gone"
    assert str(krexc.ActorUnschedulableError("node gone")) == "The actor is not schedulable: node gone"
    assert str(krexc.LocalRayletDiedError()) == "The task's local raylet died. Check raylet.out for more information."
    assert isinstance(krexc.ReferenceCountingAssertionError("ab"), AssertionError)
    assert isinstance(krexc.ActorAlreadyExistsError("x"), ValueError)
