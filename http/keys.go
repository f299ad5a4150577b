package http

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
)

func (s *Server) registerKeyRoutes() {
	s.handle("POST /api/v1/keys", platform.ScopeAdmin, s.handleKeyCreate)
	s.handle("GET /api/v1/keys", platform.ScopeAdmin, s.handleKeyList)
	s.handle("DELETE /api/v1/keys/{id}", platform.ScopeAdmin, s.handleKeyRevoke)
}

// KeyInput is the body of POST /api/v1/keys.
type KeyInput struct {
	// Name says what the key is for.
	Name string `json:"name,omitempty"`
	// Namespace is the namespace the key acts in; the caller's when empty.
	Namespace string `json:"namespace,omitempty"`
	// Namespaces are those the key sees; [Namespace] when empty. "*" (every
	// namespace) only from a caller that sees every one.
	Namespaces []string `json:"namespaces,omitempty"`
	// Scopes are the key's rights; at least one.
	Scopes []platform.Scope `json:"scopes"`
	// ExpiresIn is how long the key works: "90d", "12h", "30m". Or
	// ExpiresAt; neither: it does not expire.
	ExpiresIn string     `json:"expires_in,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// CreatedKey is the answer to POST /api/v1/keys: the key, shown this once,
// and its record.
type CreatedKey struct {
	platform.APIKey
	Key string `json:"key"`
}

// keyRevoker is what an Authenticator that caches keys offers: forgetting
// one, so that a key revoked here stops working here at once.
type keyRevoker interface{ Forget(prefix string) }

func (s *Server) keysReady() error {
	if s.Keys == nil {
		return platform.Errorf(platform.EUNAVAILABLE, "API keys are not enabled on this gateway (OSSA_AUTH=none)")
	}
	return nil
}

// handleKeyCreate handles "POST /api/v1/keys": a new API key, whose
// secret the answer shows once; only its hash is kept.
func (s *Server) handleKeyCreate(w http.ResponseWriter, r *http.Request) error {
	if err := s.keysReady(); err != nil {
		return err
	}
	body, err := s.readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	var in KeyInput
	_, problems, err := decodeObject(body, &in)
	if err != nil {
		return err
	}
	p := principal(r)
	k := &platform.APIKey{Name: in.Name, Namespace: cmp.Or(in.Namespace, p.Namespace), Namespaces: in.Namespaces,
		Scopes: in.Scopes, ExpiresAt: in.ExpiresAt, CreatedBy: string(p.Kind) + ":" + p.Subject}
	if len(k.Namespaces) == 0 {
		k.Namespaces = []string{k.Namespace}
	} else if !slices.Contains(k.Namespaces, k.Namespace) && !slices.Contains(k.Namespaces, platform.AllNamespaces) {
		k.Namespaces = append([]string{k.Namespace}, k.Namespaces...)
	}
	switch {
	case in.ExpiresIn != "" && in.ExpiresAt != nil:
		problems.Add("/expires_in", "give expires_in or expires_at, not both")
	case in.ExpiresIn != "":
		d, err := ParseLongDuration(in.ExpiresIn)
		if err != nil || d <= 0 {
			problems.Add("/expires_in", "must be a positive duration such as 90d, 12h or 30m, not %q", in.ExpiresIn)
		} else {
			t := time.Now().Add(d).UTC().Truncate(time.Second)
			k.ExpiresAt = &t
		}
	}
	if err := k.Validate(); err != nil {
		var e *platform.Error
		if errors.As(err, &e) {
			for _, f := range e.Fields {
				f.Field = "/" + f.Field
				problems = append(problems, f)
			}
		}
	}
	if len(problems) > 0 {
		return &platform.Error{Code: platform.EINVALID, Message: "the API key is not valid", Fields: problems}
	}
	// A key sees no more than its maker does.
	for _, ns := range k.Namespaces {
		if ns == platform.AllNamespaces && !slices.Contains(p.Namespaces, platform.AllNamespaces) {
			return platform.Errorf(platform.EFORBIDDEN, "only a caller that sees every namespace may make a key that does")
		}
		if ns != platform.AllNamespaces && !p.Sees(ns) {
			return platform.Errorf(platform.EFORBIDDEN, "this caller may not make keys for namespace %q", ns)
		}
	}
	secret, prefix, hash := platform.NewAPIKeySecret()
	k.Prefix, k.Hash = prefix, hash
	if err := s.Keys.CreateKey(r.Context(), k); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/keys/"+k.ID)
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, CreatedKey{APIKey: *k, Key: secret})
}

// handleKeyList handles "GET /api/v1/keys": the keys of the request's
// namespace, or with all=true of every namespace the caller sees, revoked
// ones too; never their secrets.
func (s *Server) handleKeyList(w http.ResponseWriter, r *http.Request) error {
	if err := s.keysReady(); err != nil {
		return err
	}
	q := r.URL.Query()
	if err := onlyParams(q, "all"); err != nil {
		return err
	}
	all := false
	if v := q.Get("all"); v != "" {
		var err error
		if all, err = strconv.ParseBool(v); err != nil {
			return &platform.Error{Code: platform.EBADREQUEST, Message: "the query is not valid",
				Fields: []platform.FieldError{{Field: "all", Message: "must be true or false"}}}
		}
	}
	p := principal(r)
	ns := p.Namespace
	if all {
		ns = platform.AllNamespaces
	}
	keys, err := s.Keys.ListKeys(r.Context(), ns)
	if err != nil {
		return err
	}
	if all {
		keys = slices.DeleteFunc(keys, func(k *platform.APIKey) bool { return !p.Sees(k.Namespace) })
	}
	return writePage(w, keys, "")
}

// handleKeyRevoke handles "DELETE /api/v1/keys/{id}": the key stops
// working, at once on this gateway and within seconds on the others
// (docs/security.md); its record stays, revoked.
func (s *Server) handleKeyRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.keysReady(); err != nil {
		return err
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	p := principal(r)
	ns := p.Namespace
	if slices.Contains(p.Namespaces, platform.AllNamespaces) {
		ns = platform.AllNamespaces
	}
	k, err := s.Keys.RevokeKey(r.Context(), ns, r.PathValue("id"))
	if err != nil {
		return err
	}
	if f, ok := s.Authenticator.(keyRevoker); ok {
		f.Forget(k.Prefix)
	}
	return writeJSON(w, http.StatusOK, k)
}

// ParseLongDuration reads a duration as time.ParseDuration does, and
// also in days: "90d", "1d12h".
func ParseLongDuration(v string) (time.Duration, error) {
	days, rest, ok := strings.Cut(v, "d")
	if !ok {
		return time.ParseDuration(v)
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 0 || n > 36500 {
		return 0, platform.Errorf(platform.EINVALID, "%q is not a duration", v)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		more, err := time.ParseDuration(rest)
		if err != nil {
			return 0, err
		}
		d += more
	}
	return d, nil
}
