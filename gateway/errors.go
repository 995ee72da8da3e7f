package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/seedforge/discovery/selector"
)

// statusError is an error with the HTTP status it answers with.
type statusError struct {
	status int
	msg    string // what the client reads
	err    error  // the cause, for logs and errors.Is
}

func (e *statusError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}
func (e *statusError) Unwrap() error { return e.err }

// businessError is the error a method returned: the service answered.
type businessError struct{ text string }

func (e *businessError) Error() string { return e.text }

// notSentError is a failure before the request left: always safe to retry.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// maybeSentError is a failure after the request may have reached the
// server, for a service not configured Idempotent: marked so that
// selector.Call does not try it again, and answered as an upstream failure.
type maybeSentError struct{ err error }

func (e *maybeSentError) Error() string { return e.err.Error() }
func (e *maybeSentError) Unwrap() error { return e.err }

// classify maps a call's error to the status and text the client gets.
func classify(err error) (int, string) {
	var (
		se *statusError
		be *businessError
	)
	switch {
	case errors.As(err, &se):
		return se.status, se.msg
	case errors.As(err, &be):
		return http.StatusUnprocessableEntity, be.text
	case errors.Is(err, selector.ErrNoInstances):
		return http.StatusServiceUnavailable, "no active instance"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return 499, "request cancelled" // nginx's "client closed request": nobody reads it
	}
	return http.StatusBadGateway, "upstream failure: " + err.Error()
}

// writeError answers {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Write(append(b, '\n'))
}
