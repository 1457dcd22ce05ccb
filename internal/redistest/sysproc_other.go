//go:build !linux

package redistest

import "syscall"

// dieWithParent has no portable equivalent of Linux's parent-death signal;
// elsewhere a server can outlive a test binary that dies without cleanups.
func dieWithParent() *syscall.SysProcAttr { return nil }
