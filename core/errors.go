package core

import "errors"

var (
	// ErrClosed is returned by any call on a Registrar or Discovery after Close.
	ErrClosed = errors.New("discovery: closed")
	// ErrNotFound is returned by Driver.KeepAlive when the store no longer holds
	// the record (expired, lease or session lost, deleted by someone else).
	// Core answers it by writing the record again.
	ErrNotFound = errors.New("discovery: record not found")
	// ErrInvalid wraps every error caused by bad input (instance, URL, option).
	ErrInvalid = errors.New("discovery: invalid input")
)
