"""``kernelray.cloudpickle``: the cloudpickle kernelray ships code with, as ``ray.cloudpickle``."""

from cloudpickle import *  # noqa: F401,F403
from cloudpickle import Pickler, dump, dumps, load, loads  # noqa: F401
