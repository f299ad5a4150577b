package openapicheck

import (
	"strings"
	"testing"
)

const doc = `{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
 "paths": {
  "/things/{id}": {"get": {"responses": {
    "200": {"description": "a thing", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
    "404": {"$ref": "#/components/responses/NotFound"}}}},
  "/things/special": {"get": {"responses": {"204": {"description": "nothing"}}}}
 },
 "components": {
  "schemas": {
   "Thing": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}, "additionalProperties": false, "example": {"id": "x"}},
   "Problem": {"type": "object", "required": ["status"], "properties": {"status": {"type": "integer"}}}
  },
  "responses": {"NotFound": {"description": "none", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
 }}`

func TestCheck(t *testing.T) {
	d, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
		status       int
		ct, body     string
		wrong        string // a part of the error; "" for none
	}{
		{"GET", "/things/a", 200, "application/json", `{"id":"a"}`, ""},
		{"GET", "/things/a", 200, "application/json", `{"id":1}`, "does not match"},
		{"GET", "/things/a", 200, "application/json", `{"id":"a","extra":true}`, "does not match"},
		{"GET", "/things/a", 200, "text/plain", `hi`, `as "text/plain"`},
		{"GET", "/things/a", 404, "application/problem+json", `{"status":404}`, ""},
		{"GET", "/things/a", 404, "application/problem+json", `{"status":"404"}`, "does not match"},
		{"GET", "/things/a", 500, "application/problem+json", `{"status":500}`, "does not list"},
		{"GET", "/things/special", 204, "", ``, ""},
		{"POST", "/things/a", 405, "application/problem+json", `{"status":405}`, ""},
		{"GET", "/nowhere", 404, "application/problem+json", `{"status":"no"}`, "does not match"},
		{"GET", "/nowhere", 200, "application/json", `{}`, "no such operation"},
	} {
		err := d.Check(tt.method, tt.path, tt.status, tt.ct, []byte(tt.body))
		switch {
		case tt.wrong == "" && err != nil:
			t.Errorf("%s %s %d: %v", tt.method, tt.path, tt.status, err)
		case tt.wrong != "" && (err == nil || !strings.Contains(err.Error(), tt.wrong)):
			t.Errorf("%s %s %d %s: error %v, want one about %q", tt.method, tt.path, tt.status, tt.body, err, tt.wrong)
		}
	}
}
