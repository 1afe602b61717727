"""The self-tests: run by .ci/run as the README's test command."""
