package http

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ossa-platform/platform"
)

// SetSecret sets the value of the secret name of the caller's namespace,
// creating it or replacing its value, and returns its metadata; created
// reports a new secret.
func (c *Client) SetSecret(ctx context.Context, name, value string) (s *platform.Secret, created bool, err error) {
	resp, err := c.send(ctx, http.MethodPut, secretPath(name), nil, "application/json", SecretInput{Value: value})
	if err != nil {
		return nil, false, err
	}
	defer drain(resp)
	if resp.StatusCode >= 300 {
		return nil, false, problemFrom(resp)
	}
	s = new(platform.Secret)
	if err := decodeResponse(resp, s); err != nil {
		return nil, false, err
	}
	return s, resp.StatusCode == http.StatusCreated, nil
}

// ListSecrets returns one page of the secrets of the caller's namespace:
// their metadata, never their values. limit 0 leaves the page size to the
// server; cursor is the NextCursor of the previous page.
func (c *Client) ListSecrets(ctx context.Context, limit int, cursor string) (*SecretList, error) {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var l SecretList
	if err := c.do(ctx, http.MethodGet, "/api/v1/secrets", q, "", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// DeleteSecret removes the secret name of the caller's namespace.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, secretPath(name), nil, "", nil, nil)
}

func secretPath(name string) string { return "/api/v1/secrets/" + url.PathEscape(name) }
