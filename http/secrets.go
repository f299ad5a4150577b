package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ossa-platform/platform"
)

func (s *Server) registerSecretRoutes() {
	s.handle("GET /api/v1/secrets", platform.ScopeAdmin, s.handleSecretList)
	s.handle("PUT /api/v1/secrets/{name}", platform.ScopeAdmin, s.handleSecretPut)
	s.handle("DELETE /api/v1/secrets/{name}", platform.ScopeAdmin, s.handleSecretDelete)
}

// SecretInput is the body of PUT /api/v1/secrets/{name}.
type SecretInput struct {
	Value string `json:"value"`
}

// SecretList is the body of GET /api/v1/secrets.
type SecretList = Page[*platform.Secret]

// errNoSecrets answers the secret routes of a gateway without a key.
var errNoSecrets = platform.Errorf(platform.EUNAVAILABLE,
	"this gateway keeps no secrets: set OSSA_SECRET_KEY (32 bytes in base64) and restart it")

func (s *Server) secrets() (platform.Secrets, error) {
	if s.Secrets == nil {
		return nil, errNoSecrets
	}
	return s.Secrets, nil
}

// handleSecretPut handles "PUT /api/v1/secrets/{name}": it sets the
// secret's value, creating the secret (201) or replacing its value (200).
// The answer, like every other, holds the secret's metadata, never its
// value.
func (s *Server) handleSecretPut(w http.ResponseWriter, r *http.Request) error {
	vault, err := s.secrets()
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	var in SecretInput
	present, problems, err := decodeObject(body, &in)
	if err != nil {
		return hideValue(err)
	}
	if !present["value"] {
		problems.Add("/value", "is required")
	}
	if err := problems.Err("the secret is not valid"); err != nil {
		return err
	}
	sec, created, err := vault.Set(r.Context(), namespace(r), r.PathValue("name"), in.Value)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/secrets/"+url.PathEscape(sec.Name))
	}
	return writeJSON(w, status, sec)
}

// hideValue keeps a body's syntax error from quoting what the body held:
// the position is enough to find it.
func hideValue(err error) error {
	var e *platform.Error
	if !errors.As(err, &e) || e.Code != platform.EBADREQUEST || len(e.Fields) != 1 || e.Fields[0].Field != "body" {
		return err
	}
	return &platform.Error{Code: e.Code, Message: "the request body is not a JSON object such as {\"value\": \"...\"}", Fields: e.Fields}
}

// handleSecretList handles "GET /api/v1/secrets": the names, key IDs and
// times of the namespace's secrets, in name order.
func (s *Server) handleSecretList(w http.ResponseWriter, r *http.Request) error {
	vault, err := s.secrets()
	if err != nil {
		return err
	}
	after, limit, err := pageOnly(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := vault.List(r.Context(), platform.SecretFilter{Namespace: namespace(r), AfterName: after, Limit: limit})
	if err != nil {
		return err
	}
	next := ""
	if page.More && len(page.Items) > 0 {
		next = page.Items[len(page.Items)-1].Name
	}
	return writePage(w, page.Items, next)
}

// handleSecretDelete handles "DELETE /api/v1/secrets/{name}". Agents that
// name the secret stay registered; their calls fail, saying which secret
// is missing, until it is set again.
func (s *Server) handleSecretDelete(w http.ResponseWriter, r *http.Request) error {
	vault, err := s.secrets()
	if err != nil {
		return err
	}
	if err := vault.Delete(r.Context(), namespace(r), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkAuth refuses an agent whose Auth names a secret its namespace does
// not have, or any secret on a gateway that keeps none.
func (s *Server) checkAuth(ctx context.Context, ns string, a *platform.Agent) error {
	if a.Auth == nil || a.Auth.Secret == "" {
		return nil
	}
	if s.Secrets == nil {
		return &platform.Error{Code: platform.EUNAVAILABLE,
			Message: "the agent authenticates with a secret, but this gateway keeps no secrets: set OSSA_SECRET_KEY and restart it",
			Fields:  []platform.FieldError{{Field: "/auth/secret", Message: "cannot be looked up"}}}
	}
	_, err := s.Secrets.Lookup(ctx, ns, a.Auth.Secret)
	if platform.ErrorCode(err) == platform.ENOTFOUND {
		return &platform.Error{Code: platform.EINVALID, Message: "the agent names a secret that does not exist",
			Fields: []platform.FieldError{{Field: "/auth/secret",
				Message: fmt.Sprintf("names the secret %q, which namespace %q does not have: set it first (PUT /api/v1/secrets/%s)",
					a.Auth.Secret, ns, a.Auth.Secret)}}}
	}
	return err
}

// EndpointPolicy judges the endpoints agents are registered with:
// invoke.NetworkPolicy.
type EndpointPolicy interface {
	// CheckEndpoint returns why the gateway may not call endpoint, or nil.
	CheckEndpoint(ctx context.Context, endpoint string) error
}

// checkEndpoint refuses an endpoint the server's EndpointPolicy refuses,
// naming field.
func (s *Server) checkEndpoint(ctx context.Context, endpoint, field string) error {
	if s.Endpoints == nil || endpoint == "" {
		return nil
	}
	if err := s.Endpoints.CheckEndpoint(ctx, endpoint); err != nil {
		return &platform.Error{Code: platform.EINVALID, Message: "the gateway may not call the agent's endpoint",
			Fields: []platform.FieldError{{Field: field, Message: "is refused: " + err.Error()}}}
	}
	return nil
}
