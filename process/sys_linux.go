//go:build linux

package process

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the child in its own process group, so signals reach
// its children too, and has the kernel SIGKILL it when the driver dies.
// Pdeathsig fires when the thread that forked exits; Go keeps its threads
// for the life of the program unless a goroutine exits locked to one, which
// this package never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// applyLimits sets the limits on the running child with prlimit(2). The
// child runs a few instructions before they apply: os/exec has no hook
// between fork and exec.
func applyLimits(pid int, l Limits) error {
	set := func(resource int, name string, v uint64) error {
		if v == 0 {
			return nil
		}
		lim := unix.Rlimit{Cur: v, Max: v}
		if err := unix.Prlimit(pid, resource, &lim, nil); err != nil {
			return fmt.Errorf("set %s of pid %d to %d: %w", name, pid, v, err)
		}
		return nil
	}
	if err := set(unix.RLIMIT_AS, "memory limit (RLIMIT_AS)", l.MemoryBytes); err != nil {
		return err
	}
	if err := set(unix.RLIMIT_CPU, "CPU time limit (RLIMIT_CPU)", l.CPUSeconds); err != nil {
		return err
	}
	return set(unix.RLIMIT_NOFILE, "open files limit (RLIMIT_NOFILE)", l.OpenFiles)
}

// canWaitUnreaped is true: waitExited returns before the leader is reaped.
const canWaitUnreaped = true

// waitExited blocks until pid has exited without reaping it: while the
// leader is a zombie its pid, and so its process group ID, cannot be reused,
// so killing what is left of the group afterwards hits nothing else.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}
