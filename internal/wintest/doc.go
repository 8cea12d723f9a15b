// Package wintest runs the Windows tests under Wine: every test in a
// _windows_test.go file (or a test file only Windows builds) of the module
// is cross-compiled with GOOS=windows, run under Wine on a private Xvfb and
// a private Wine prefix (internal/testenv), and reported here as a subtest.
// A Windows test that cannot pass under Wine must skip through
// internal/wineskip, naming the Windows API Wine lacks; any other skip
// fails. `make test-windows` runs only this; `make test` runs it with the
// rest.
package wintest
