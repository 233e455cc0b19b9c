# The README's two commands. `make demo` builds and runs the worker-pool demo; `make test` builds
# and runs every test. Both install what is missing first (Debian 12, apt-get).
PRESET ?= release
JOBS ?= $(shell nproc)

.PHONY: demo test deps build asan tsan bench clean
deps:
	@./scripts/install-deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

demo: build
	@./build/$(PRESET)/tools/gopp-pool

# CTEST_ARGS: extra ctest flags; CI passes --repeat until-pass:2 for the sanitizer runs, where
# timing-bound tests on a shared 2-core machine may need a second try (RELIABILITY.md: retry
# before failing). Each retry is printed, so a flaky test stays visible.
CTEST_ARGS ?=
test: build
	@ctest --preset $(PRESET) -j $(JOBS) $(CTEST_ARGS)

asan:
	@$(MAKE) --no-print-directory test PRESET=asan
tsan:
	@$(MAKE) --no-print-directory test PRESET=tsan

bench:
	@./bench/compare

clean:
	rm -rf build
