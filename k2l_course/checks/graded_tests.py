"""The graded checks as pytest tests: what ``k2l check`` runs under pytest.

This module is not part of the course's own test suite: ``k2l check`` passes
its path to ``pytest.main`` together with a plugin (registered as
:data:`PLUGIN`) that knows which student files to check. There is one test
per graded item; it fails unless the item earns full points, with the check's
hint as its message. The student's code never runs in the pytest process: the
first test of each file runs all of that file's calls in the sandbox, and each
test then judges its own item's outcomes.
"""

#: Name under which ``k2l check`` registers its plugin.
PLUGIN = "k2l-check"


def pytest_generate_tests(metafunc):
    if "graded" in metafunc.fixturenames:
        session = metafunc.config.pluginmanager.get_plugin(PLUGIN)
        tests = session.tests if session is not None else []
        metafunc.parametrize("graded", tests, ids=[test.id for test in tests])


def test_item(graded):
    result = graded.run()
    assert result.passed, result.verdict.message
