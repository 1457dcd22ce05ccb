package redistest

import "syscall"

// dieWithParent has the kernel kill the server when the test binary dies
// without running its cleanups (a panic or a -timeout), so no redis-server
// outlives its tests.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
