// Package qdrant speaks to the Qdrant vector index over its REST API.
package qdrant

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client is a Qdrant REST client.
type Client struct {
	URL        string
	HTTPClient *http.Client
}

// New returns a client for the Qdrant server at url.
func New(url string) *Client {
	return &Client{URL: url, HTTPClient: &http.Client{Timeout: 5 * time.Second}}
}

// Backend returns "qdrant".
func (c *Client) Backend() string { return "qdrant" }

// Ping checks Qdrant's health endpoint.
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("qdrant /healthz answered %s", resp.Status)
	}
	return nil
}
