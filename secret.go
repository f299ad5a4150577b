package platform

import (
	"context"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// Secret is what may be told of a named secret: everything but its value.
// A secret belongs to a namespace, where its name is unique, and is sent
// to the agents of that namespace whose AgentAuth names it.
type Secret struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// KeyID names the key the value is encrypted under, which tells
	// whether a rotation has re-encrypted it yet.
	KeyID     string    `json:"key_id"`
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the value was last set.
	UpdatedAt time.Time `json:"updated_at"`
}

// SealedSecret is a secret as a SecretStore keeps it: its metadata and its
// value encrypted under the key KeyID names. Only the secrets service
// (package secrets) can open it.
type SealedSecret struct {
	Secret
	Ciphertext []byte
}

// Secret limits. A value is sent as an HTTP header, so it is bounded as a
// header is and may not hold what would break one.
const (
	MaxSecretValueLen = 8 << 10
	MaxHeaderNameLen  = 128
	MaxAuthSchemeLen  = 64
)

// SecretFilter selects secrets, in namespace then name order.
type SecretFilter struct {
	// Namespace is one namespace, or AllNamespaces.
	Namespace string
	// NotKeyID, when set, selects only the secrets encrypted under
	// another key: what a rotation still has to re-encrypt.
	NotKeyID string
	// AfterNamespace and AfterName are the last secret of the previous
	// page; the page starts after it. With one Namespace, AfterName alone
	// is enough.
	AfterNamespace, AfterName string
	// Limit is the page size, 1 to MaxPageSize.
	Limit int
}

// SecretPage is one page of secrets. More reports that another page
// follows, which starts after the last item.
type SecretPage struct {
	Items []*Secret
	More  bool
}

// SecretStore keeps sealed secrets; it never sees a value in the clear.
// Every method that changes state runs in one transaction of the store.
type SecretStore interface {
	// PutSecret stores s, or replaces the key ID and ciphertext of the
	// secret of that namespace and name, setting the timestamps (a
	// replaced secret keeps its CreatedAt). created reports which.
	PutSecret(ctx context.Context, s *SealedSecret) (created bool, err error)
	// FindSecret returns the sealed secret, or ENOTFOUND.
	FindSecret(ctx context.Context, namespace, name string) (*SealedSecret, error)
	// ListSecrets returns one page of the secrets f selects.
	ListSecrets(ctx context.Context, f SecretFilter) (SecretPage, error)
	// DeleteSecret removes the secret, or returns ENOTFOUND.
	DeleteSecret(ctx context.Context, namespace, name string) error
	// ResealSecret replaces the key ID and ciphertext of a secret whose
	// ciphertext is still old, leaving its timestamps: the value is the
	// same, encrypted anew. It reports false, changing nothing, when the
	// secret is gone or its value was set since old was read.
	ResealSecret(ctx context.Context, namespace, name string, old []byte, keyID string, ciphertext []byte) (bool, error)
}

// Secrets is the secrets service: values go in and, toward agents only,
// come out; everything else sees metadata. Implemented by
// secrets.Vault.
type Secrets interface {
	// Set stores value under name in namespace, encrypted, replacing the
	// value there was; created reports whether the secret is new.
	Set(ctx context.Context, namespace, name, value string) (s *Secret, created bool, err error)
	// Lookup returns the secret's metadata, or ENOTFOUND.
	Lookup(ctx context.Context, namespace, name string) (*Secret, error)
	// List returns one page of the secrets f selects.
	List(ctx context.Context, f SecretFilter) (SecretPage, error)
	// Delete removes the secret, or returns ENOTFOUND.
	Delete(ctx context.Context, namespace, name string) error
	// Reveal returns the secret's value, for the header of a call to an
	// agent, or ENOTFOUND. Nothing else may ask for it.
	Reveal(ctx context.Context, namespace, name string) (string, error)
}

// ValidateSecret reports what is wrong with a secret's name and value,
// each with its field ("name" is a path parameter, "/value" the body's
// member). The value is never quoted.
func ValidateSecret(name, value string) error {
	var p Problems
	switch {
	case name == "":
		p.Add("name", "is required")
	case !ValidName(name):
		p.Add("name", "must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit")
	}
	switch {
	case value == "":
		p.Add("/value", "is required and must not be empty")
	case len(value) > MaxSecretValueLen:
		p.Add("/value", "must be at most %d bytes", MaxSecretValueLen)
	case !validHeaderValue(value):
		p.Add("/value", "must be fit for an HTTP header: no control characters (line breaks, NUL) and no leading or trailing white space")
	}
	return p.Err("the secret is not valid")
}

// validHeaderValue reports whether v can be sent as an HTTP header value
// as it is (RFC 9110 field-value, without the obsolete line folding):
// nothing a header could be split or cut at, and no white space at its
// ends, which a receiver would strip.
func validHeaderValue(v string) bool {
	if strings.TrimSpace(v) != v {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// AgentAuth says how the gateway authenticates to an agent: it sends the
// value of the secret Secret, of the agent's namespace, in the header
// Header, after Scheme and a space when Scheme is set. The value is looked
// up at every call, so a secret set anew applies at once.
type AgentAuth struct {
	// Header is the header's name. Default "Authorization".
	Header string `json:"header"`
	// Scheme comes before the value, as in "Bearer <value>"; "" sends the
	// value alone.
	Scheme string `json:"scheme,omitempty"`
	// Secret is the name of the secret.
	Secret string `json:"secret"`
}

// DefaultAuthHeader is the header AgentAuth sends by default.
const DefaultAuthHeader = "Authorization"

// reservedHeaders are the headers an AgentAuth may not set: the ones the
// gateway sets on every call and the ones that frame the connection.
var reservedHeaders = []string{"Accept", "Connection", "Content-Length", "Content-Type", "Host",
	"Idempotency-Key", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te", "Traceparent", "Tracestate",
	"Trailer", "Transfer-Encoding", "Upgrade", "User-Agent", "X-Request-Id"}

// HeaderValue is what the header carries for the secret's value.
func (a *AgentAuth) HeaderValue(value string) string {
	if a.Scheme == "" {
		return value
	}
	return a.Scheme + " " + value
}

// HeaderName is the header to send, in canonical form.
func (a *AgentAuth) HeaderName() string {
	if a.Header == "" {
		return DefaultAuthHeader
	}
	return textproto.CanonicalMIMEHeaderKey(a.Header)
}

// validate adds the problems of a to p, under /auth.
func (a *AgentAuth) validate(p *Problems) {
	switch {
	case a.Header == "":
	case len(a.Header) > MaxHeaderNameLen || !isToken(a.Header):
		p.Add("/auth/header", "must be an HTTP header name: at most %d letters, digits and !#$%%&'*+-.^_`|~", MaxHeaderNameLen)
	case slices.Contains(reservedHeaders, textproto.CanonicalMIMEHeaderKey(a.Header)):
		p.Add("/auth/header", "must not be %s, which the gateway sets itself; reserved: %s", a.Header, strings.Join(reservedHeaders, ", "))
	}
	if a.Scheme != "" && (len(a.Scheme) > MaxAuthSchemeLen || !isToken(a.Scheme)) {
		p.Add("/auth/scheme", "must be an authentication scheme such as Bearer: at most %d letters, digits and !#$%%&'*+-.^_`|~", MaxAuthSchemeLen)
	}
	switch {
	case a.Secret == "":
		p.Add("/auth/secret", "is required: the name of the secret whose value is sent")
	case !ValidName(a.Secret):
		p.Add("/auth/secret", "must be the name of a secret: a DNS-1123 label")
	}
}

// isToken reports whether s is an RFC 9110 token, as header names and
// authentication schemes are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
