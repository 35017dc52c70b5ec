# The README's two commands: `make demo` (set up + main job) and `make test` (set up + tests).
.PHONY: setup demo test

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/creativelens demo

test: setup
	.venv/bin/python -m pytest -ra
