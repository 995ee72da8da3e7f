package core

import "errors"

var (
	// ErrClosed is returned by any call on a Registrar or Discovery after Close.
	ErrClosed = errors.New("discovery: closed")
	// ErrNotFound is returned by Driver.KeepAlive when the store no longer holds
	// the record (expired, lease or session lost, deleted by someone else).
	// Core answers it by writing the record again.
	ErrNotFound = errors.New("discovery: record not found")
	// ErrPending is wrapped by the error of a Register whose context ended
	// before the record was written: the Registrar keeps the registration
	// and goes on trying in the background until Deregister or Close.
	// Registrar.Status says when it is written.
	ErrPending = errors.New("discovery: registration pending (not written yet; retrying in the background)")
	// ErrInvalid wraps every error caused by bad input (instance, URL, option).
	ErrInvalid = errors.New("discovery: invalid input")
)
