"""The test suite: unit tests mock HTTP with respx, end-to-end tests run the sandbox on loopback; shared helpers in `tests/utils.py`."""
