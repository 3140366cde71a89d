# The two contracts of DESIGN.md section 9: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
STAMP := $(VENV)/.installed
PO := caseapp/translations/vi/LC_MESSAGES/messages.po
MO := caseapp/translations/vi/LC_MESSAGES/messages.mo
export FLASK_APP := wsgi

.PHONY: install run test lint translations extract-messages bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) $(MO)

$(MO): $(PO) | $(STAMP)
	$(BIN)/pybabel compile -d caseapp/translations -D messages

translations: $(MO)

# Re-extract the English source strings and merge them into the Vietnamese catalogue.
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k _ln:1,2 -k lazy_ngettext:1,2 --no-location \
		--sort-output -o caseapp/translations/messages.pot .
	$(BIN)/pybabel update -i caseapp/translations/messages.pot -d caseapp/translations \
		--no-fuzzy-matching --ignore-obsolete

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	@echo "Demo accounts (user name, password, TOTP secret): instance/demo-credentials.json"
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Lint, the whole suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set.
# Every step runs even when an earlier one fails; the target fails if any of them did.
# CASEAPP_REQUIRE_POSTGRES=1 (CI) makes a missing TEST_DATABASE_URL an error.
test: install
	@status=0; \
	echo "== ruff, ruff format, mypy"; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy || status=1; \
	echo "== the whole suite on SQLite"; \
	env -u TEST_DATABASE_URL -u CASEAPP_REQUIRE_POSTGRES $(BIN)/pytest $(PYTEST_ARGS) || status=1; \
	if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== the same suite on PostgreSQL"; \
		$(BIN)/pytest $(PYTEST_ARGS) || status=1; \
	elif [ "$$CASEAPP_REQUIRE_POSTGRES" = 1 ]; then \
		echo "CASEAPP_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set" >&2; status=1; \
	fi; \
	exit $$status

# Every benchmark with its PASS/FAIL line (DESIGN section 9; the targets of issue 16). Each runs
# on a SQLite file of its own, or, when BENCH_DATABASE_URL names a PostgreSQL server (any
# database on it; the user may create databases), on an empty database made for it and dropped
# after (bench/fresh_db.py). Fails when any benchmark prints FAIL or exits non-zero.
BENCHES := bench/onboarding.py bench/intake.py bench/audit_verify.py bench/reports.py \
	bench/monitoring.py bench/many_people.py bench/cases.py bench/audit_trail.py bench/scale_out.py \
	bench/every_screen.py
bench: install
	@status=0; \
	for script in $(BENCHES); do \
		echo "== $$script"; url=""; \
		if [ -n "$$BENCH_DATABASE_URL" ]; then \
			url=$$($(BIN)/python bench/fresh_db.py create "$$BENCH_DATABASE_URL") || { status=1; continue; }; \
		fi; \
		out=$$($(BIN)/python $$script $${url:+--database-url "$$url"} 2>&1); \
		code=$$?; echo "$$out"; \
		if [ -n "$$url" ]; then $(BIN)/python bench/fresh_db.py drop "$$url"; fi; \
		if [ $$code -ne 0 ] || echo "$$out" | grep -q ': FAIL'; then status=1; fi; \
	done; \
	exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
