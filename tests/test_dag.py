"""Ray Core's DAG API (kernelray.dag) against Ray 2.60's behaviour; scenarios from Ray's docs."""

import time
import warnings

import pytest

import kernelray
from kernelray.dag import InputNode, MultiOutputNode, RayDeprecationWarning

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@kernelray.remote
def add(a, b):
    return a + b


@kernelray.remote
def inc(x):
    return x + 1


@kernelray.remote
def stamp(x):
    return time.time()


@kernelray.remote
def first_type(xs):
    return type(xs[0]).__name__


@kernelray.remote
class Counter:
    def __init__(self, start=0):
        self.n = start

    def incr(self, k=1):
        self.n += k
        return self.n

    def get(self):
        return self.n

    @kernelray.method(num_returns=2)
    def two(self):
        return 1, 2


@kernelray.remote
class Model:
    def __init__(self, val):
        self.val = val

    def forward(self, x):
        return self.val * x


def test_function_node_executes_to_a_ref_with_rays_warning(cluster):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = inc.bind(1).execute()
    assert isinstance(ref, kernelray.ObjectRef) and kernelray.get(ref) == 2
    assert [str(w.message) for w in caught if w.category is RayDeprecationWarning] == [
        "DAGNode.execute() is deprecated and will be removed in a future release."]


def test_docs_example_input_node_ensemble(cluster):
    with InputNode() as dag_input:
        m1, m2 = Model.bind(1), Model.bind(2)
        dag = add.bind(m1.forward.bind(dag_input[0]), m2.forward.bind(dag_input.x))
    assert kernelray.get(dag.execute(1, x=2)) == 5


def test_input_from_one_list_dict_or_object(cluster):
    with InputNode() as inp:
        by_index = add.bind(inp[0], inp[1])
    assert kernelray.get(by_index.execute([2, 3])) == 5
    assert kernelray.get(by_index.execute(2, 3)) == 5
    with InputNode() as inp:
        by_key = add.bind(inp["a"], inp["b"])
    assert kernelray.get(by_key.execute({"a": 1, "b": 5})) == 6
    assert kernelray.get(by_key.execute(a=1, b=5)) == 6

    class Data:
        m1, m2 = 3, 4

    with InputNode() as inp:
        by_attr = add.bind(inp.m1, inp.m2)
    assert kernelray.get(by_attr.execute(Data())) == 7


def test_multi_output_and_a_new_actor_per_execute_with_calls_in_bind_order(cluster):
    with InputNode() as inp:
        counter = Counter.bind(10)
        x = counter.incr.bind(inp)
        y = counter.incr.bind(inp)
        dag = MultiOutputNode([x, y])
    refs = dag.execute(1)
    assert isinstance(refs, list) and kernelray.get(refs) == [11, 12]
    assert kernelray.get(dag.execute(5)) == [15, 20]
    assert kernelray.get(y.execute(1)) == 12  # the call bound before y runs first
    assert isinstance(counter.execute(), kernelray.actor.ActorHandle)


def test_live_actor_method_bind(cluster):
    handle = Counter.remote(0)
    with InputNode() as inp:
        dag = handle.incr.bind(inp)
    assert [kernelray.get(dag.execute(2)), kernelray.get(dag.execute(3))] == [2, 5]
    a, b = handle.two.bind()
    assert kernelray.get(a.execute()) == 1
    assert kernelray.get(MultiOutputNode([a, b]).execute()) == [1, 2]
    assert kernelray.get(Counter.bind().two.bind().execute()) == [1, 2]


def test_shared_node_runs_once_and_nested_nodes_become_refs(cluster):
    with InputNode() as inp:
        shared = stamp.bind(inp)
        dag = MultiOutputNode([add.bind(shared, 0), add.bind(shared, 0)])
    first, second = kernelray.get(dag.execute(1))
    assert first == second
    assert kernelray.get(first_type.bind([inc.bind(1)]).execute()) == "ObjectRef"
    assert kernelray.get(MultiOutputNode((inc.bind(1), inc.bind(2))).execute()) == [2, 3]


def test_options_reach_the_nodes(cluster):
    assert kernelray.get(inc.options(num_cpus=0).bind(1).execute()) == 2
    assert kernelray.get(Counter.options(num_cpus=0).bind(3).get.bind().execute()) == 3
    assert kernelray.get(Counter.bind().two.options(num_returns=1).bind().execute()) == (1, 2)


def test_rays_errors():
    with pytest.raises(ValueError, match="InputNode should not take any args or kwargs."):
        InputNode(1)
    with pytest.raises(ValueError, match="Invalid input type for `args`"):
        MultiOutputNode(inc.bind(1))
    with pytest.raises(AttributeError, match=r"\.remote\(\) cannot be used on .*FunctionNode.*use \.execute\(\)"):
        inc.bind(1).remote()
    with pytest.raises(AttributeError, match=r"\.bind\(\) cannot be used again on"):
        inc.bind(1).bind()
    with InputNode() as inp:
        with pytest.raises(ValueError, match="InputNode handles user dynamic input the DAG"):
            Counter.bind(inp)
    node = Counter.bind()
    with pytest.raises(AttributeError, match="type object 'Counter' has no attribute 'nope'"):
        node.nope
    with pytest.raises(AttributeError, match=r"\.remote\(\) cannot be used on ClassMethodNodes"):
        node.incr.remote()
    with pytest.raises(AssertionError, match="Please only use int index or str"):
        inp[1.5]


def test_input_node_outside_a_with_block_or_twice(cluster):
    outside = InputNode()
    with pytest.raises(AssertionError, match="InputNode is a singleton instance that should be only used in "
                                             "context manager"):
        inc.bind(outside).execute(1)
    with InputNode() as a, InputNode() as b:
        dag = add.bind(a, b)
    with pytest.raises(AssertionError, match="Each DAG should only have one unique InputNode."):
        dag.execute(1)


def test_ray_dag_import_path():
    import kernelray.dag as dag

    assert dag.InputNode is InputNode and dag.MultiOutputNode is MultiOutputNode
