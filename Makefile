# HallMonitor. `make test` is the whole test suite (what CI runs).
GO       ?= go
PKG      := ./...
BIN      := bin/hallmonitor
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)

.PHONY: all build test test-short vet fmt lint fuzz bench demo install clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hallmonitor

# Everything: vet, formatting, and every test with the race detector. Lab tests
# (network namespaces, dnsmasq and DHCP clients, headless Chromium, systemd-analyze)
# run when root and the tools are present; they skip with a message otherwise, and
# fail instead when HALLMONITOR_REQUIRE_LAB=1 (as in CI).
test: vet fmt
	$(GO) test -race -count=1 -timeout 25m $(PKG)

test-short:
	$(GO) test -short -count=1 $(PKG)

vet:
	$(GO) vet $(PKG)

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Short fuzzing runs of every decoder and parser (FUZZTIME=5m for longer).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./adapters/capture -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./rules/policy -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKG)

demo:
	$(GO) run ./cmd/hallmonitor demo

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)/usr/local/bin/hallmonitor
	install -D -m 0644 systemd/hallmonitor.service $(DESTDIR)/etc/systemd/system/hallmonitor.service
	install -D -m 0640 deploy/examples/hallmonitor.yaml $(DESTDIR)/etc/hallmonitor/hallmonitor.yaml.example

clean:
	rm -rf bin
