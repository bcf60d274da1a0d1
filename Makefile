# make run    set up and start everything on the embedded default
# make test   run the test suite (against DATABASE_URL / REDIS_URL when set)
# make bench  run the OCPP load benchmark

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: run test bench lint

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m config.embedded run

test: $(STAMP)
	$(PY) -m config.embedded exec $(PY) -m pytest $(ARGS)

bench: $(STAMP)
	$(PY) -m config.embedded exec $(PY) benchmarks/ocpp_load.py $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
