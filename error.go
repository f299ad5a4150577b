package platform

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the http package; nothing
// above the adapters matches on error text.
const (
	EINVALID      = "invalid"      // a value breaks a rule (422)
	EBADREQUEST   = "bad_request"  // the request itself cannot be read (400)
	ENOTFOUND     = "not_found"    // no such resource (404)
	ECONFLICT     = "conflict"     // the change clashes with stored state (409)
	EPRECONDITION = "precondition" // a condition of the request (If-Match) does not hold (412)
	ETOOLARGE     = "too_large"    // the body is over the limit (413)
	EUNSUPPORTED  = "unsupported"  // the media type is not accepted (415)
	EUNAUTHORIZED = "unauthorized" // no or bad credentials (401)
	EFORBIDDEN    = "forbidden"    // credentials lack the right (403)
	ERATELIMITED  = "rate_limited" // too many requests (429)
	EUNAVAILABLE  = "unavailable"  // a dependency is down (503)
	EBADGATEWAY   = "bad_gateway"  // an agent failed or answered badly (502)
	ETIMEOUT      = "timeout"      // an agent did not answer in time (504)
	EINTERNAL     = "internal"     // a bug or an unexpected failure (500)
)

// Error is the platform's error: a code, a message fit for the caller, and,
// for validation failures, every problem found with the field it concerns.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

// FieldError is one problem with one field. Field is a JSON pointer
// ("/capabilities/0") or a parameter name ("limit").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// Line and Column locate the problem in a submitted YAML or JSON
	// document (a manifest), when known.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	msg := e.Message
	for _, f := range e.Fields {
		msg += fmt.Sprintf("; %s: %s", f.Field, f.Message)
	}
	return msg
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, EINTERNAL for any other error,
// and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-facing message of err: the message of its
// *Error, or a generic text for internal errors, whose details stay in logs.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Problems collects field errors during validation so that every problem is
// reported, not just the first.
type Problems []FieldError

// Add records a problem with field.
func (p *Problems) Add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was recorded, else an EINVALID *Error that
// carries every problem.
func (p Problems) Err(message string) error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: message, Fields: p}
}
