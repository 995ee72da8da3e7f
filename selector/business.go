package selector

import "errors"

// Business marks err as a business error: the instance answered, and the
// answer is an error (not found, invalid argument…). Call never retries it
// and returns it as is; errors.Is and errors.As still see err through the
// mark. Business(nil) is nil.
func Business(err error) error {
	if err == nil {
		return nil
	}
	return &businessError{err: err}
}

// IsBusiness reports whether err, or any error it wraps, was marked with
// Business.
func IsBusiness(err error) bool {
	var b *businessError
	return errors.As(err, &b)
}

type businessError struct{ err error }

func (e *businessError) Error() string { return e.err.Error() }
func (e *businessError) Unwrap() error { return e.err }
