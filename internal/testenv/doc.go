// Package testenv holds the pieces of test environment that the end-to-end
// tests (e2e) and the benchmarks (bench) share: building the binaries,
// started processes with their output collected, an Xvfb display, and the
// flags headless Chromium runs with. It is for tests only.
package testenv
