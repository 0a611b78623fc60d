# segal-dsl developer commands. `make help` lists them.
PY := .venv/bin/python

.PHONY: help setup setup-core toy test test-core golden generated lint bench docs

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup:  ## install everything into .venv (runtime stack included; mmcv-full wheel cached outside the repo)
	bash scripts/setup.sh

setup-core:  ## install only the light front end + test tools
	bash scripts/setup.sh --core

toy: setup  ## run the embedded toy experiment end to end (the README's main job)
	.venv/bin/segal run examples/toy_pixel.seg

test: setup  ## the whole test suite (what .ci/run calls)
	$(PY) -m pytest

test-core: setup-core  ## front-end tests only (no torch needed)
	$(PY) -m pytest -m "not runtime" --ignore-glob='tests/test_runtime_*'

golden:  ## rewrite golden files from the current output; review the diff afterwards
	$(PY) -m pytest --update-golden -m "not runtime" -q

generated:  ## recompile examples/*.seg into generated/
	$(PY) scripts/generate.py

docs:  ## regenerate docs/diagnostics.md and the key table of docs/compiled-config.md from segal_dsl/
	.venv/bin/segal explain --all > docs/diagnostics.md
	$(PY) scripts/generate.py --docs

lint:  ## ruff (rules, import order, complexity limit: pyproject.toml) and the house-rule tests
	.venv/bin/ruff check segal_dsl tests scripts benchmarks
	$(PY) -m pytest -q tests/test_house_rules.py

bench:  ## run the benchmarks (figures and ratios, see benchmarks/README.md)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
