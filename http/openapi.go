package http

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes every route; TestOpenAPIMatchesRoutes fails when
// the two differ.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the served OpenAPI 3.1 document.
func OpenAPIDocument() []byte { return openAPIDocument }

func (s *Server) registerOpenAPIRoutes() {
	s.handle("GET /openapi.json", anyScope, s.handleOpenAPI)
}

// handleOpenAPI handles "GET /openapi.json".
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/vnd.oai.openapi+json;version=3.1")
	_, err := w.Write(openAPIDocument)
	return err
}
