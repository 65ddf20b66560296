package auth

import "errors"

// The errors an Authorizer returns, directly or wrapped; test with
// errors.Is. Their messages, and those of the errors wrapping them, name no
// secret and may be shown to the client.
var (
	// ErrNoToken: the request carries no token and one is needed (401).
	ErrNoToken = errors.New("auth: no token")
	// ErrInvalidToken: the token is malformed, badly signed, expired, not
	// yet valid, for another audience or issuer, signed with an algorithm
	// or key not accepted, or misses a required claim (401). The wrapping
	// error says which.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrTokenExpired is the ErrInvalidToken of an expired token:
	// errors.Is(ErrTokenExpired, ErrInvalidToken) holds.
	ErrTokenExpired error = &childError{msg: "auth: token expired", parent: ErrInvalidToken}
	// ErrForbidden: the requester is known but may not do this (403).
	ErrForbidden = errors.New("auth: forbidden")
	// ErrUnavailable: the authorizer could not decide (the webhook timed
	// out, could not be reached, failed or answered nonsense). The request
	// is denied; the server should answer 503 and log it, as it is the
	// operator's problem rather than the client's.
	ErrUnavailable = errors.New("auth: authorizer unavailable")
)

// childError is a sentinel that is also its parent sentinel.
type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.parent }

// causeError is an error with a message safe for clients that keeps a more
// detailed cause, which may not be (it can name internal addresses), for
// errors.As and errors.Is.
type causeError struct {
	msg   string
	kind  error
	cause error
}

func (e *causeError) Error() string { return e.msg }

func (e *causeError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}
