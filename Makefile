# coldcase — build, test, benchmark, fuzz, and rebuild the sample evidence.
GO      ?= go
FUZZTIME ?= 10s

.PHONY: build test bench fuzz testdata vet

build:
	$(GO) build -o bin/coldcase ./cmd/coldcase

test:
	$(GO) test -timeout 30m ./...

vet:
	$(GO) vet ./...

# Benchmarks compare coldcase with qemu-img, TSK and sha256sum on the same
# input in one run and print the ratio (see each package's bench_test.go).
bench:
	COLDCASE_BENCH=1 $(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# A short run of every fuzz target (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s $$pkg; \
	  done; \
	done

# Rebuild the sample images under testdata/ with standard tools (needs root
# for loop devices in the LVM variants; see testdata/README.md).
testdata:
	bash testdata/build-all.sh
