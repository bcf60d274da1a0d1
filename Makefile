# make run    set up and start everything on the embedded default
# make test   run the test suite (against DATABASE_URL / REDIS_URL when set)
# make bench  run the OCPP load benchmark (bench-compare: the same against the reference OCPP server;
#             bench-faults, bench-commands, bench-fuzz: the others; bench-smoke: each with small numbers,
#             to prove they work)

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: run test bench bench-compare bench-faults bench-commands bench-fuzz bench-smoke lint

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m config.embedded run

test: $(STAMP)
	$(PY) -m config.embedded exec $(PY) -m pytest $(ARGS)

# Each benchmark starts its own database and Redis (benchmarks/harness.py), or uses
# DATABASE_URL / REDIS_URL when set.
bench: $(STAMP)
	$(PY) benchmarks/ocpp_load.py $(ARGS)

# The project and the reference OCPP server (benchmarks/ocpp_reference.py) under the same workload, one after
# the other on the same ports; add --saturation to step up the offered CALL rate for both.
bench-compare: $(STAMP)
	$(PY) benchmarks/ocpp_load.py --compare-reference $(ARGS)

bench-faults: $(STAMP)
	$(PY) benchmarks/faults_end_to_end.py $(ARGS)

bench-commands: $(STAMP)
	$(PY) benchmarks/command_roundtrip.py $(ARGS)

bench-fuzz: $(STAMP)
	$(PY) benchmarks/ocpp_fuzz.py $(ARGS)

bench-smoke: $(STAMP)
	$(PY) benchmarks/ocpp_load.py -n 20 --rate 20 --duration 5 --settle 1 --heartbeat 2 --meter-interval 1 \
		--reconnect-storm --storm-timeout 60 --port 8871
	$(PY) benchmarks/ocpp_load.py -n 20 --rate 20 --duration 5 --settle 1 --heartbeat 2 --meter-interval 1 \
		--compare-reference --reconnect-storm --storm-timeout 60 --port 8873
	$(PY) benchmarks/ocpp_load.py -n 20 --rate 20 --settle 1 --compare-reference --saturation \
		--saturation-steps 10,20,40 --step-duration 4 --saturation-warmup 2 --port 8874
	$(PY) benchmarks/faults_end_to_end.py -n 20 --technicians 2 --concurrency 2 --ramp-up-s 2 --deadline 120 \
		--port 8872
	$(PY) benchmarks/command_roundtrip.py --chargers 10 --commands 50 --concurrency 5
	$(PY) benchmarks/ocpp_fuzz.py --frames 200 --chargers 3
	$(PY) benchmarks/pages.py --stations 200 --repeat 3

lint: $(STAMP)
	$(PY) -m ruff check .
