package serve

import "fmt"

// DefaultConfig is the configuration when no flag, variable or .env file
// sets anything: every setting's default.
func DefaultConfig() Config {
	var c Config
	for _, s := range settings {
		if err := s.set(&c, s.def); err != nil {
			panic(fmt.Sprintf("the default of %s: %v", s.env, err))
		}
	}
	return c
}

// Variables are the environment variables the settings are read from, in
// the order of docs/configuration.md.
func Variables() []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = s.env
	}
	return out
}
