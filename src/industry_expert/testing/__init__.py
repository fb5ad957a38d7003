"""Test helpers shipped with the package: contract suites every backend must pass."""
