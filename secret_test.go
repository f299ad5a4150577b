package platform_test

import (
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
)

func TestAgentAuthValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		auth   platform.AgentAuth
		fields []string // "" valid
	}{
		{platform.AgentAuth{Secret: "billing-token"}, nil},
		{platform.AgentAuth{Header: "X-Api-Key", Scheme: "Bearer", Secret: "t"}, nil},
		{platform.AgentAuth{Header: "Cookie", Secret: "t"}, nil},
		{platform.AgentAuth{}, []string{"/auth/secret"}},
		{platform.AgentAuth{Secret: "Bad_Name"}, []string{"/auth/secret"}},
		{platform.AgentAuth{Header: "x-request-id", Secret: "t"}, []string{"/auth/header"}},
		{platform.AgentAuth{Header: "host", Secret: "t"}, []string{"/auth/header"}},
		{platform.AgentAuth{Header: "Bad Header", Secret: "t"}, []string{"/auth/header"}},
		{platform.AgentAuth{Header: "X:Y", Secret: "t"}, []string{"/auth/header"}},
		{platform.AgentAuth{Header: strings.Repeat("x", 129), Secret: "t"}, []string{"/auth/header"}},
		{platform.AgentAuth{Scheme: "Bearer Token", Secret: "t"}, []string{"/auth/scheme"}},
		{platform.AgentAuth{Scheme: "Bearer\r\n", Secret: "t"}, []string{"/auth/scheme"}},
	} {
		a := &platform.Agent{Name: "a", Type: platform.AgentWorker, Auth: &tc.auth}
		a.Normalize()
		err := a.Validate()
		var got []string
		if e, ok := err.(*platform.Error); ok {
			for _, f := range e.Fields {
				got = append(got, f.Field)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("%+v: fields %v (%v), want %v", tc.auth, got, err, tc.fields)
		}
	}
	a := &platform.Agent{Auth: &platform.AgentAuth{Secret: "t"}}
	a.Normalize()
	if a.Auth.Header != "Authorization" || a.Auth.HeaderName() != "Authorization" || a.Auth.HeaderValue("v") != "v" {
		t.Errorf("defaults: %+v", a.Auth)
	}
	b := platform.AgentAuth{Header: "x-api-key", Scheme: "Token", Secret: "t"}
	if b.HeaderName() != "X-Api-Key" || b.HeaderValue("v") != "Token v" {
		t.Errorf("header %q: %q", b.HeaderName(), b.HeaderValue("v"))
	}
}

func TestValidateSecret(t *testing.T) {
	t.Parallel()
	const value = "s3cr3t-value"
	for _, tc := range []struct {
		name, value string
		fields      string
	}{
		{"token", value, ""},
		{"token", "tab\tinside is fine", ""},
		{"token", strings.Repeat("x", platform.MaxSecretValueLen), ""},
		{"", value, "name"},
		{"Token", value, "name"},
		{"token", "", "/value"},
		{"token", value + "\n", "/value"},
		{"token", value + "\x00", "/value"},
		{"token", value + "\x7f", "/value"},
		{"token", " " + value, "/value"},
		{"token", strings.Repeat("x", platform.MaxSecretValueLen+1), "/value"},
		{"Bad", "", "name,/value"},
	} {
		err := platform.ValidateSecret(tc.name, tc.value)
		var got []string
		if e, ok := err.(*platform.Error); ok {
			for _, f := range e.Fields {
				got = append(got, f.Field)
			}
		}
		if strings.Join(got, ",") != tc.fields {
			t.Errorf("%q, %q: fields %v, want %s", tc.name, tc.value, got, tc.fields)
		}
		if err != nil && tc.value != "" && strings.Contains(err.Error(), tc.value) {
			t.Errorf("the error quotes the value: %v", err)
		}
	}
}
