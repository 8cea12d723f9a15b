package desktop

import (
	"os"
	"testing"

	"github.com/tetherdesk/tether/agent/internal/xtest"
)

// xsrv is a private Xvfb for the tests of the X11 clipboard and overlay;
// the other tests do not use it.
var xsrv *xtest.Server

func TestMain(m *testing.M) { os.Exit(xtest.Main(m, xtest.Options{}, &xsrv)) }
