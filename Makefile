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
	$(BIN)/pybabel compile -q -d caseapp/translations -D messages

translations: $(MO)

# Re-extract the English source strings and merge them into the Vietnamese catalogue.
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location \
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

# The whole suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set.
test: install lint
	env -u TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== the same suite on PostgreSQL"; \
		$(BIN)/pytest $(PYTEST_ARGS); \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
