package main

import (
	"io"

	"github.com/ossa-platform/platform/cmd/ossa/serve"
)

// The configuration and the wiring of `ossa serve` are package serve's,
// which the tests' platform (package ossatest) runs too; these names are
// the verb's.

type (
	// Config is serve.Config.
	Config = serve.Config
	// Main is serve.Main.
	Main = serve.Main
)

// LoadConfig is serve.LoadConfig.
func LoadConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	return serve.LoadConfig(args, getenv, stderr)
}

// rotateSecrets is serve.RotateSecrets.
var rotateSecrets = serve.RotateSecrets

// ConfigTable is serve.ConfigTable.
func ConfigTable() string { return serve.ConfigTable() }

// NewMain returns the platform `ossa serve` runs: the gateway, and the
// services beside it that cfg enables (none yet), logging JSON lines to
// logOut.
func NewMain(cfg Config, logOut io.Writer) *Main { return serve.New(cfg, logOut) }
