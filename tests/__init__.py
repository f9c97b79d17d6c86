"""The test suite, a package: shared helpers are ``tests.helpers`` (see its docstring)."""
