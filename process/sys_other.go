//go:build unix && !linux

package process

import (
	"errors"
	"syscall"
)

// sysProcAttr puts the child in its own process group. Outside Linux there
// is no Pdeathsig: a child outlives a killed driver until KillGroup.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// applyLimits fails when a limit is asked for: only Linux can set the
// limits of another process (prlimit(2)).
func applyLimits(_ int, l Limits) error {
	if l.IsZero() {
		return nil
	}
	return errors.New("resource limits need Linux (prlimit)")
}

// waitExited returns at once: without waitid(WNOWAIT) the group is cleaned
// after the leader is reaped.
func waitExited(int) {}

// canWaitUnreaped is false: the group is killed after the leader is reaped,
// when its pid could in theory already be reused.
const canWaitUnreaped = false
