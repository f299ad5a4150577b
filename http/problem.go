package http

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/ossa-platform/platform"
)

// ProblemTypePrefix starts the type URI of every problem; the platform
// error code follows it ("urn:ossa:problem:not_found").
const ProblemTypePrefix = "urn:ossa:problem:"

// Problem is an RFC 9457 problem details body, the shape of every 4xx and
// 5xx response.
type Problem struct {
	Type     string                `json:"type"`
	Title    string                `json:"title"`
	Status   int                   `json:"status"`
	Detail   string                `json:"detail"`
	Instance string                `json:"instance"`
	Errors   []platform.FieldError `json:"errors"`
	// RequestID repeats the X-Request-ID header, to quote in a report.
	RequestID string `json:"request_id,omitempty"`
}

// Error returns the problem as one line.
func (p *Problem) Error() string {
	msg := http.StatusText(p.Status)
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	for _, e := range p.Errors {
		msg += "; " + e.Field + ": " + e.Message
	}
	return msg
}

// Code returns the platform error code the problem's type names.
func (p *Problem) Code() string {
	if len(p.Type) > len(ProblemTypePrefix) && p.Type[:len(ProblemTypePrefix)] == ProblemTypePrefix {
		return p.Type[len(ProblemTypePrefix):]
	}
	return platform.EINTERNAL
}

// statuses maps each platform error code to its HTTP status.
var statuses = map[string]int{
	platform.EINVALID:      http.StatusUnprocessableEntity,
	platform.EBADREQUEST:   http.StatusBadRequest,
	platform.ENOTFOUND:     http.StatusNotFound,
	platform.ECONFLICT:     http.StatusConflict,
	platform.EPRECONDITION: http.StatusPreconditionFailed,
	platform.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	platform.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	platform.EUNAUTHORIZED: http.StatusUnauthorized,
	platform.EFORBIDDEN:    http.StatusForbidden,
	platform.ERATELIMITED:  http.StatusTooManyRequests,
	platform.EUNAVAILABLE:  http.StatusServiceUnavailable,
	platform.EBADGATEWAY:   http.StatusBadGateway,
	platform.ETIMEOUT:      http.StatusGatewayTimeout,
	platform.EINTERNAL:     http.StatusInternalServerError,
	codeMethodNotAllowed:   http.StatusMethodNotAllowed,
	codeUpgradeRequired:    http.StatusUpgradeRequired,
}

// HTTP-only codes: the domain never produces them.
const (
	codeMethodNotAllowed = "method_not_allowed"
	codeUpgradeRequired  = "upgrade_required"
)

// ErrorStatus returns the HTTP status for err.
func ErrorStatus(err error) int {
	if s, ok := statuses[platform.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// writeError writes err as a problem. Internal errors are logged with their
// details and answered with a generic message.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := platform.ErrorCode(err)
	status := ErrorStatus(err)
	if code == platform.EINTERNAL {
		logger(r).ErrorContext(r.Context(), "internal error", slog.String("error", err.Error()))
	}
	p := &Problem{
		Type:      ProblemTypePrefix + code,
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    platform.ErrorMessage(err),
		Instance:  r.URL.Path,
		Errors:    []platform.FieldError{},
		RequestID: w.Header().Get("X-Request-ID"),
	}
	var e *platform.Error
	if errors.As(err, &e) && e.Fields != nil {
		p.Errors = e.Fields
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ossa"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON writes v as a JSON body with the status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return nil
}
