package oidc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/oidc/oidctest"
)

// FuzzVerify: whatever the bearer token, Verify refuses it with
// EUNAUTHORIZED (or EUNAVAILABLE, were the issuer down), never panics,
// never accepts what the issuer did not sign, and never repeats the token.
func FuzzVerify(f *testing.F) {
	key := oidctest.NewRSA(f, "k1")
	is := oidctest.Start(f, key)
	cfg := config(is)
	cfg.KeyRefreshInterval = time.Hour
	v := newVerifier(f, cfg)
	good := key.Sign(f, is.Claims())
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(context.Background(), token)
		if err == nil {
			if token != good {
				t.Fatalf("accepted a token the issuer did not sign: %+v", p)
			}
			return
		}
		if c := platform.ErrorCode(err); c != platform.EUNAUTHORIZED && c != platform.EUNAVAILABLE {
			t.Fatalf("%v: code %q", err, c)
		}
		if len(token) > 8 && strings.Contains(err.Error(), token) {
			t.Fatalf("the error repeats the token: %v", err)
		}
	})
}
