package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/jsondepth"
	"github.com/ossa-platform/platform/manifest"
)

// DefaultMaxBodyBytes is the largest request body accepted: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// MaxBodyDepth is how deeply arrays and objects may nest in a JSON request
// body (a YAML one is bound by manifest.MaxDepth alike). The platform's
// documents nest a few dozen levels at most; a deeper body is refused
// before it is decoded, so that it costs neither memory nor a database's
// own limit (SQLite's JSON functions stop at 1,000).
const MaxBodyDepth = manifest.MaxDepth

// readBody reads the whole request body, refusing one over the server's
// limit (413) and one whose media type is not among accepted (415).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, accepted ...string) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !acceptedType(mt, accepted) {
		return nil, &platform.Error{Code: platform.EUNSUPPORTED,
			Message: fmt.Sprintf("Content-Type must be %s", strings.Join(accepted, " or ")),
			Fields:  []platform.FieldError{{Field: "Content-Type", Message: fmt.Sprintf("got %q", r.Header.Get("Content-Type"))}}}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBodyBytes()))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, platform.Errorf(platform.ETOOLARGE, "the request body is larger than the limit of %d bytes", tooLarge.Limit)
	}
	if err != nil {
		return nil, platform.Errorf(platform.EBADREQUEST, "the request body could not be read: %v", err)
	}
	if !isYAMLType(mt) {
		if offset, over := jsondepth.Exceeds(body, MaxBodyDepth); over {
			line, col := position(body, int64(offset))
			msg := fmt.Sprintf("arrays and objects nest deeper than %d levels here", MaxBodyDepth)
			return nil, &platform.Error{Code: platform.EBADREQUEST,
				Message: fmt.Sprintf("the request body nests deeper than %d levels (at line %d, column %d)", MaxBodyDepth, line, col),
				Fields:  []platform.FieldError{{Field: "body", Message: msg, Line: line, Column: col}}}
		}
	}
	return body, nil
}

// postType refuses a POST, with or without a body, whose Content-Type is
// not JSON (application/json or application/*+json) or YAML (yamlTypes).
// An HTML form, or a fetch in no-cors mode, of a page on any site can POST
// to the gateway without the browser asking first, but only as text/plain,
// application/x-www-form-urlencoded or multipart/form-data; a JSON or YAML
// type needs a CORS preflight, which only CORS_ORIGIN's origins pass. So no
// other site's page can make the gateway act (cross-site request forgery),
// such as cancel a run.
func postType(r *http.Request) error {
	if r.Method != http.MethodPost {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || contains(yamlTypes, mt) ||
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return &platform.Error{Code: platform.EUNSUPPORTED,
		Message: "a POST must have Content-Type application/json (or another JSON or YAML type), even without a body: " +
			"the gateway refuses the types a form or a no-cors fetch of a page on another site can send, so that no such page can act on it",
		Fields: []platform.FieldError{{Field: "Content-Type", Message: fmt.Sprintf("got %q", ct)}}}
}

func acceptedType(mt string, accepted []string) bool {
	for _, a := range accepted {
		if mt == a {
			return true
		}
	}
	return false
}

// decodeObject decodes a JSON object into the struct dst points to. It
// answers EBADREQUEST for a body that is not one JSON object, naming the
// line and column of a syntax error, and for top-level members dst does not
// have, naming all of them. Values of the wrong JSON type are collected, one
// per member, into problems (reported with the other validation problems as
// EINVALID). present holds the members the body had, null or not.
func decodeObject(body []byte, dst any) (present map[string]bool, problems platform.Problems, err error) {
	var members map[string]json.RawMessage
	if err := strictUnmarshal(body, &members); err != nil {
		return nil, nil, err
	}
	if members == nil {
		return nil, nil, badBody("", "the request body must be a JSON object, not null")
	}
	v := reflect.ValueOf(dst).Elem()
	fields := jsonFields(v.Type())
	var unknown []string
	for name := range members {
		if _, ok := fields[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		e := &platform.Error{Code: platform.EBADREQUEST, Message: "unknown fields: " + strings.Join(unknown, ", ")}
		for _, n := range unknown {
			e.Fields = append(e.Fields, platform.FieldError{Field: "/" + n, Message: "is not a known field"})
		}
		return nil, nil, e
	}
	present = make(map[string]bool, len(members))
	for name, raw := range members {
		present[name] = true
		decodeValue(raw, v.Field(fields[name]), "/"+name, &problems)
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Field < problems[j].Field })
	return present, problems, nil
}

// decodeValue decodes raw into v, recording a type error with the pointer
// of the value that has it: arrays and objects of plain values are decoded
// one element at a time, so that "/capabilities/2" is named, not just
// "/capabilities".
func decodeValue(raw json.RawMessage, v reflect.Value, pointer string, problems *platform.Problems) {
	t := v.Type()
	var elems []json.RawMessage
	var entries map[string]json.RawMessage
	switch {
	case t == reflect.TypeFor[json.RawMessage]():
	case t.Kind() == reflect.Slice && json.Unmarshal(raw, &elems) == nil && elems != nil:
		out := reflect.MakeSlice(t, len(elems), len(elems))
		for i, e := range elems {
			decodeValue(e, out.Index(i), pointer+"/"+strconv.Itoa(i), problems)
		}
		v.Set(out)
		return
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && json.Unmarshal(raw, &entries) == nil && entries != nil:
		out := reflect.MakeMapWithSize(t, len(entries))
		for k, e := range entries {
			ev := reflect.New(t.Elem()).Elem()
			decodeValue(e, ev, pointer+"/"+platform.EscapePointer(k), problems)
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		v.Set(out)
		return
	}
	if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
		problems.Add(pointer, "must be %s", describe(t, err))
		v.SetZero()
	}
}

// strictUnmarshal decodes exactly one JSON value from body into dst.
func strictUnmarshal(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badBody("", "the request body is empty; it must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			// Offset counts the offending byte itself.
			line, col := position(body, syn.Offset-1)
			return badBody(fmt.Sprintf("line %d, column %d", line, col), "malformed JSON at line %d, column %d: %s", line, col, syn.Error())
		case errors.Is(err, io.ErrUnexpectedEOF):
			line, col := position(body, int64(len(body)))
			return badBody(fmt.Sprintf("line %d, column %d", line, col), "malformed JSON: the body ends early at line %d, column %d", line, col)
		case errors.As(err, &typ):
			return badBody("", "the request body must be a JSON object, not %s", typ.Value)
		}
		return badBody("", "malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		line, col := position(body, dec.InputOffset())
		return badBody(fmt.Sprintf("line %d, column %d", line, col), "malformed JSON: unexpected data after the object at line %d, column %d", line, col)
	}
	return nil
}

func badBody(where, format string, args ...any) error {
	e := &platform.Error{Code: platform.EBADREQUEST, Message: fmt.Sprintf(format, args...)}
	if where != "" {
		e.Fields = []platform.FieldError{{Field: "body", Message: "error at " + where}}
	}
	return e
}

// position turns a byte offset into a 1-based line and column.
func position(body []byte, offset int64) (line, col int) {
	if offset > int64(len(body)) {
		offset = int64(len(body))
	}
	before := body[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// jsonFields maps the JSON names of a struct's fields to their indexes.
func jsonFields(t reflect.Type) map[string]int {
	out := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}

// describe says what JSON a Go type takes, for type errors.
func describe(t reflect.Type, err error) string {
	var typ *json.UnmarshalTypeError
	got := ""
	if errors.As(err, &typ) {
		got = ", not " + typ.Value
	}
	switch {
	case t == reflect.TypeFor[json.RawMessage]():
		return "valid JSON" + got
	case t.Kind() == reflect.String:
		return "a string" + got
	case t.Kind() == reflect.Slice:
		return "an array of " + plural(t.Elem()) + got
	case t.Kind() == reflect.Map:
		return "an object whose values are " + plural(t.Elem()) + got
	case t.Kind() == reflect.Bool:
		return "a boolean" + got
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "a number" + got
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct, t.Kind() == reflect.Struct:
		return "an object" + got
	}
	return "of type " + t.String() + got
}

func plural(t reflect.Type) string {
	if t.Kind() == reflect.String {
		return "strings"
	}
	return t.String() + " values"
}
