# Tether — see README.md. `make run` and `make test` install what they need.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# RELEASE_PUB: the release key (tether-server release keygen's release.pub)
# the agent trusts for self-updates; without it the agent takes none.
RELEASE_PUB ?= $(shell cat release.pub 2>/dev/null)
LDFLAGS := -s -w -X github.com/tetherdesk/tether/shared/version.Version=$(VERSION) -X github.com/tetherdesk/tether/shared/release.PublicKey=$(RELEASE_PUB)
BIN := bin
FUZZTIME ?= 10s

.PHONY: run test test-windows bench bench-screen build installers lint fuzz clean deps-run deps-test

run:
	@scripts/deps.sh run
	@scripts/run.sh

test:
	@scripts/deps.sh test
	@echo "test: go vet (linux, windows)"
	@$(GO) vet ./...
	@GOOS=windows $(GO) vet ./...
	@echo "test: starting a private PostgreSQL for the store suite"
	@dsn="$$(scripts/pg-test.sh start)" && export TETHER_TEST_POSTGRES="$$dsn" && \
	  echo "test: go test ./... (SQLite and PostgreSQL, e2e with real binaries)" && \
	  $(GO) test -count=1 -timeout 20m ./...

# Only the Windows tests, under Wine on a private Xvfb and Wine prefix (the
# prefix is made once, in bin/wine). make test runs them too.
test-windows:
	@scripts/deps.sh test
	@echo "test-windows: every _windows_test.go test, cross-compiled and run under Wine"
	@$(GO) test -count=1 -v -run 'TestWindows' ./internal/wintest

bench:
	@scripts/deps.sh bench
	@echo "bench: long-poll delivery with 1,000 and 10,000 simulated agents on one node and up to 50,000 over two nodes on PostgreSQL; one notification to 10,000; screen sharing at 1920x1080, Tether vs x11vnc + noVNC"
	@mkdir -p bench/out
	@set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 60m ./bench/... | tee bench/out/bench.txt
	@echo "bench: 1 MiB of a shell's output through the terminal channel over WebRTC, against the same read straight from a pty"
	@set -o pipefail; $(GO) test -run '^$$' -bench TerminalChannel -count 5 ./agent/session/ | tee bench/out/terminal.txt

# Only the screen-share benchmark (about 8 minutes on 2 cores).
bench-screen:
	@scripts/deps.sh bench
	@echo "bench-screen: screen sharing at 1920x1080, Tether vs x11vnc + websockify + noVNC, five workloads"
	@mkdir -p bench/out
	@set -o pipefail; $(GO) test -run '^$$' -bench ScreenShare -benchtime 1x -count 1 -timeout 20m ./bench/ | tee bench/out/screen.txt
	@echo "bench-screen: the same on a headless sway (Wayland), Tether vs wayvnc + websockify + noVNC, idle, typing and scroll"
	@set -o pipefail; TETHER_BENCH_SCREEN_DESKTOP=sway TETHER_BENCH_SCREEN_WORKLOADS=$${TETHER_BENCH_SCREEN_SWAY_WORKLOADS:-idle,typing,scroll} \
		$(GO) test -run '^$$' -bench ScreenShare -benchtime 1x -count 1 -timeout 20m ./bench/ | tee bench/out/screen-sway.txt

build:
	@scripts/deps.sh build
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tether-server ./server/cmd/tether-server
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tether-agent ./agent/cmd/tether-agent
	GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc \
	  $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tether-agent.exe ./agent/cmd/tether-agent
	GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc \
	  $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tether-server.exe ./server/cmd/tether-server

# Packages in dist/: agent and server .deb and .rpm (nfpm), the agent's .msi
# (wixl), SHA256SUMS. Versions come from git describe. Signed only when
# given keys: GPG_KEY=key.asc (passphrase in TETHER_GPG_PASSPHRASE) for the
# .deb/.rpm, SIGN_CERT=cert.pem SIGN_KEY=key.pem for Authenticode.
GPG_KEY ?=
SIGN_CERT ?=
SIGN_KEY ?=
installers: build
	@scripts/deps.sh installers
	$(GO) run ./installer/cmd/tether-pkg -bin $(BIN) -out dist -version '$(VERSION)' \
	  -gpg-key '$(GPG_KEY)' -sign-cert '$(SIGN_CERT)' -sign-key '$(SIGN_KEY)'

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

# Each fuzz target for FUZZTIME (go test -fuzz takes one target at a time).
fuzz:
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz: $$t $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$t || exit 1; \
	  done; done

clean:
	rm -rf $(BIN) dist .run bench/out e2e/out
