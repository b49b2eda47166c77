"""Browser tests: the shared `browser` fixture lives in tests/conftest.py so every suite reuses one Playwright."""
