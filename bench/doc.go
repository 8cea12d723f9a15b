// Package bench holds load benchmarks that run the real server binary as a
// separate process and drive it over HTTP on loopback. The benchmarks live
// in the _test.go files; run them with `make bench` (see README.md).
package bench
