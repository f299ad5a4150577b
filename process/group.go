//go:build unix

package process

import (
	"errors"
	"fmt"
	"syscall"
)

// KillGroup sends SIGKILL to every process of the process group pgid, as
// recorded by a previous run of the driver (Process.PGID), so a restarted
// BuildKit can reconcile what its database says runs. A group that is
// already gone is not an error. It refuses pgid 0 and 1 and the caller's own
// group, which a bad record would otherwise kill.
func KillGroup(pgid int) error {
	return signalGroup(pgid, syscall.SIGKILL)
}

// GroupAlive reports whether a process of the group pgid still exists;
// a zombie counts until its parent reaps it.
func GroupAlive(pgid int) bool {
	if checkGroup(pgid) != nil {
		return false
	}
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func checkGroup(pgid int) error {
	if pgid <= 1 {
		return fmt.Errorf("process: refusing to signal process group %d", pgid)
	}
	if pgid == syscall.Getpgrp() {
		return fmt.Errorf("process: refusing to signal the driver's own process group %d", pgid)
	}
	return nil
}

func signalGroup(pgid int, sig syscall.Signal) error {
	if err := checkGroup(pgid); err != nil {
		return err
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("process: send %s to process group %d: %w", sig, pgid, err)
	}
	return nil
}
