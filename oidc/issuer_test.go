package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/oidc"
	"github.com/ossa-platform/platform/oidc/oidctest"
)

const audience = oidctest.Audience

// config is a verifier's configuration for is, fast for tests.
func config(is *oidctest.Issuer) oidc.Config {
	return oidc.Config{Issuer: is.URL, Audience: audience, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}
}

func newVerifier(t testing.TB, cfg oidc.Config) *oidc.Verifier {
	t.Helper()
	v, err := oidc.New(context.Background(), cfg, &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantCode fails unless err is a platform error of code whose message
// holds every one of the fragments and not the token.
func wantCode(t *testing.T, err error, code, token string, fragments ...string) {
	t.Helper()
	if got := platform.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	msg := platform.ErrorMessage(err)
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("message %q lacks %q", msg, f)
		}
	}
	if token != "" && (strings.Contains(msg, token) || strings.Contains(err.Error(), token)) {
		t.Errorf("the error repeats the token: %v", err)
	}
	var pe *platform.Error
	if !errors.As(err, &pe) {
		t.Errorf("%v is no *platform.Error", err)
	}
}
