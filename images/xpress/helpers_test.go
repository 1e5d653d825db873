package xpress

import "runtime"

func runtimeGOROOT() string {
	//lint:ignore SA1019 tests only need a tree of real files
	return runtime.GOROOT()
}
