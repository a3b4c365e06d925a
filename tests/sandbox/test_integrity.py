"""Answers that never compute anything but still compare equal: each must fail as tampering.

Issue: the assert guard trusted any comparison code whose file name pointed into the library. Two
classes of bypass followed: library objects built to equal everything (CPython's ``test.support``,
``unittest.mock``), reached directly or by file; and code that only *claims* a library file name
(``compile``, ``types.FunctionType``, ``marshal``, importlib loaders fed a string, ``<frozen ...>``).
Each program below returns such an object from ``f``; the check ``assert candidate(1) == 2`` (or the
one given) must then fail with a tampering verdict, under bwrap and under rlimits. The honest
programs beside them use library types in asserts and must still pass.
"""

from __future__ import annotations

import textwrap

import pytest

from evalkit.sandbox import Isolation, Verdict, bwrap_status, run_programs

BWRAP_OK, BWRAP_WHY = bwrap_status()
ISOLATIONS = [
    pytest.param(Isolation.BWRAP, marks=pytest.mark.skipif(not BWRAP_OK, reason=f"bwrap: {BWRAP_WHY}")),
    Isolation.RLIMITS,
]

ALWAYS_TRUE = "def always(self, other=None, *args):\\n    return True\\n"  # source text inside the programs

BYPASSES = {
    # -- objects made to equal everything, from the standard library ------------------------------------
    "test_support_always_eq": "from test.support import ALWAYS_EQ\nreturn ALWAYS_EQ",
    "test_support_importlib": "import importlib\nreturn importlib.import_module('test.support').ALWAYS_EQ",
    "test_support___import__": "return __import__('test.support', fromlist=['x']).ALWAYS_EQ",
    "test_support_by_file": """
        import importlib.util, os
        import sys
        path = os.path.join([p for p in sys.path if p.endswith('python3.' + str(sys.version_info[1]))][0],
                            'test', 'support', '__init__.py')
        spec = importlib.util.spec_from_file_location('test.support', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.ALWAYS_EQ""",
    "test_support_largest": ("from test.support import LARGEST\nreturn LARGEST", "assert candidate(1) > 10 ** 9"),
    "mock_any_importlib": "import importlib\nreturn importlib.import_module('unittest.mock').ANY",
    "mock_any_by_file": """
        import importlib.util, sys
        lib = [p for p in sys.path if p.endswith('python3.' + str(sys.version_info[1]))][0]
        spec = importlib.util.spec_from_file_location('mock_copy', lib + '/unittest/mock.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.ANY""",
    # -- code that claims a library file name --------------------------------------------------------------
    "compile_library_name": f"""
        import fractions
        ns = {{}}
        exec(compile("{ALWAYS_TRUE}", fractions.__file__, "exec"), ns)
        return type("A", (), {{"__eq__": ns["always"], "__hash__": None}})()""",
    "compile_library_class_statement": """
        import fractions
        ns = {}
        exec(compile("class Fraction:\\n    def __eq__(self, other):\\n        return True\\n",
                     fractions.__file__, "exec"), ns)
        return ns["Fraction"]()""",
    "compile_frozen_name": f"""
        ns = {{}}
        exec(compile("{ALWAYS_TRUE}", "<frozen os>", "exec"), ns)
        return type("A", (), {{"__eq__": ns["always"], "__hash__": None}})()""",
    "function_type_on_code": f"""
        import fractions, types
        code = [c for c in compile("{ALWAYS_TRUE}", fractions.__file__, "exec").co_consts if hasattr(c, "co_code")][0]
        return type("A", (), {{"__eq__": types.FunctionType(code, {{}}), "__hash__": None}})()""",
    "marshal_renamed_code": f"""
        import fractions, marshal, types
        fake = "X" * len(fractions.__file__)
        blob = marshal.dumps(compile("{ALWAYS_TRUE}", fake, "exec"))
        module = marshal.loads(blob.replace(fake.encode(), fractions.__file__.encode()))
        code = [c for c in module.co_consts if hasattr(c, "co_code")][0]
        return type("A", (), {{"__eq__": types.FunctionType(code, {{}}), "__hash__": None}})()""",
    "importlib_loader_from_string": f"""
        import fractions, importlib.machinery
        loader = importlib.machinery.SourceFileLoader("fractions_copy", fractions.__file__)
        ns = {{}}
        exec(loader.source_to_code(b"{ALWAYS_TRUE}", fractions.__file__), ns)
        return type("A", (), {{"__eq__": ns["always"], "__hash__": None}})()""",
    # -- real library functions, borrowed where they do not belong -----------------------------------------
    "type_with_library_function": """
        import copy
        return type("A", (), {"__eq__": copy._deepcopy_atomic, "__hash__": None})()  # returns self: truthy""",
    "library_function_set_on_library_class": """
        import copy, fractions
        fractions.Fraction.__eq__ = copy._deepcopy_atomic
        return fractions.Fraction(1)""",
    "genuine_code_forged_globals": """
        import collections, types
        def fake_isinstance(*args):
            return True
        g = dict(vars(collections), __builtins__={**__builtins__.__dict__, "isinstance": fake_isinstance,
                                                  "all": lambda xs: True})
        eq = types.FunctionType(collections.Counter.__eq__.__code__, g)
        collections.Counter.__eq__ = eq
        return collections.Counter()""",
    "library_wrapper_holding_program_object": """
        import collections
        class Anything:
            def __eq__(self, other):
                return True
            __hash__ = None
        s = collections.UserString("")
        s.data = Anything()
        return s""",
    "library_object_holding_program_function": ("""
        import os
        for key in list(os.environ):
            del os.environ[key]
        os.environ["a"] = "not two"
        os.environ.decodevalue = lambda value: 2  # the mapping now reports whatever the program says
        return os.environ""", "assert candidate(1) == {'a': 2}"),
    # -- builtins swapped only while an assert needs them -----------------------------------------------
    "builtins_swapped_back_inside_the_call": ("""
        builtins.abs = REAL_ABS  # put back before the pass check at the end can see it
        return 999""", "assert abs(candidate(1) - 2) < 1e-9", """
        import builtins
        REAL_ABS = abs
        builtins.abs = lambda value: 0"""),
}

HONEST = {
    "fraction": ("from fractions import Fraction\nreturn Fraction(4, 2)", "assert candidate(1) == 2"),
    "counter": ("from collections import Counter\nreturn Counter('aab')",
                "assert candidate(1) == {'a': 2, 'b': 1}"),
    "environ": ("import os\nreturn os.environ", "assert candidate(1)['HOME'] and candidate(1) == candidate(1)"),
    "enum": ("import enum\nclass C(enum.IntEnum):\n    TWO = 2\nreturn C.TWO", "assert candidate(1) == 2"),
    "namedtuple": ("import collections\nP = collections.namedtuple('P', 'a b')\nreturn P(1, 2)",
                   "assert candidate(1) == (1, 2)"),
    "decimal": ("from decimal import Decimal\nreturn Decimal('2.0')", "assert candidate(1) == 2"),
    "pathlib_and_ipaddress": ("import ipaddress, pathlib\nreturn (pathlib.PurePath('a') / 'b', "
                              "ipaddress.ip_address('10.0.0.1'))",
                              "assert candidate(1) == (pathlib.PurePath('a/b'), ipaddress.ip_address('10.0.0.1'))\n"
                              "assert candidate(1)[1] > ipaddress.ip_address('10.0.0.0')"),
    "userlist": ("import collections\nreturn collections.UserList([1, 2])", "assert candidate(1) == [1, 2]"),
}


def program(body: str, check: str = "assert candidate(1) == 2", prelude: str = "") -> str:
    """A HumanEval-shaped program: the completion's top-level ``prelude``, ``f`` and the check."""
    body = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    return (f"import ipaddress, pathlib\n{textwrap.dedent(prelude).strip()}\n\n\ndef f(x):\n{body}\n\n\n"
            f"def check(candidate):\n{textwrap.indent(check, '    ')}\n\n\ncheck(f)\n")


def _as_program(case: str | tuple[str, ...]) -> str:
    return program(*case) if isinstance(case, tuple) else program(case)


@pytest.fixture(scope="module", params=ISOLATIONS, ids=lambda iso: iso.value)
def outcomes(request: pytest.FixtureRequest) -> dict[str, object]:
    cases = {**BYPASSES, **HONEST}
    results = run_programs([_as_program(c) for c in cases.values()], isolation=request.param, timeout_s=10.0)
    return dict(zip(cases, results))


@pytest.mark.parametrize("name", list(BYPASSES))
def test_bypass_fails_as_tampering(outcomes: dict, name: str) -> None:
    result = outcomes[name]
    assert result.verdict is Verdict.FAILED, (name, result.detail, result.stderr[-800:])
    assert "tampering detected" in result.detail, (name, result.detail, result.stderr[-800:])


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_library_values_still_pass(outcomes: dict, name: str) -> None:
    result = outcomes[name]
    assert result.verdict is Verdict.PASSED, (name, result.detail, result.stderr[-800:])
